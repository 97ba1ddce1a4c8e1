/**
 * `@tide/transformer/node`: checkpoint folders on disk (docs/checkpoints.md). A folder holds `config.json` and
 * `model.safetensors`; {@link loadCheckpoint} reads one into a model and {@link saveCheckpoint} writes a model
 * in its layout (each file atomically). The main entry `@tide/transformer` runs anywhere, the browser included.
 *
 * @packageDocumentation
 */
import { readCheckpointFolder, writeCheckpointFolder } from '@tide/formats/node';
import {
  modelConfigJson,
  modelFromTensors,
  modelStateDict,
  parseConfig,
  type ModelFromTensorsOptions,
} from './checkpoint.js';
import type { TransformerModel } from './model.js';

/** Loads `dir/config.json` + `dir/model.safetensors` (HF GPT-2 or PyTorch encoder layout). */
export function loadCheckpoint(dir: string, options: ModelFromTensorsOptions = {}): TransformerModel {
  const { config, weights, weightsFile } = readCheckpointFolder(dir, parseConfig);
  return modelFromTensors(config, weights.tensors, weightsFile, options);
}

/** Writes `dir/config.json` and `dir/model.safetensors` in the model's layout (each atomically). */
export function saveCheckpoint(
  model: TransformerModel,
  dir: string,
  extra: Record<string, unknown> = {},
  metadata: Record<string, string> = { format: 'pt' },
): void {
  writeCheckpointFolder(dir, modelStateDict(model), modelConfigJson(model, extra), metadata);
}
