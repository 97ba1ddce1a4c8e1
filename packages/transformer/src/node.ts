/**
 * `@tide/transformer/node`: checkpoint folders on disk (docs/checkpoints.md). A folder holds `config.json` and
 * `model.safetensors`; {@link loadCheckpoint} reads one into a model and {@link saveCheckpoint} writes a model
 * in its layout (each file atomically). The main entry `@tide/transformer` runs anywhere, the browser included.
 *
 * @packageDocumentation
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointError, writeSafetensors } from '@tide/formats';
import { readJsonFile, readSafetensorsFile, writeFileAtomic } from '@tide/formats/node';
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
  if (typeof dir !== 'string' || !existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new CheckpointError(String(dir), {
      expected: 'a model folder (config.json + model.safetensors)',
      received: typeof dir === 'string' && existsSync(dir) ? 'a file' : 'no such folder',
      fix: 'pass --model DIR',
    });
  }
  const configFile = join(dir, 'config.json');
  const cfg = parseConfig(readJsonFile(configFile), configFile);
  const weightsFile = join(dir, 'model.safetensors');
  const file = readSafetensorsFile(weightsFile, 'the weights file model.safetensors');
  return modelFromTensors(cfg, file.tensors, weightsFile, options);
}

/** Writes `dir/config.json` and `dir/model.safetensors` in the model's layout (each atomically). */
export function saveCheckpoint(
  model: TransformerModel,
  dir: string,
  extra: Record<string, unknown> = {},
  metadata: Record<string, string> = { format: 'pt' },
): void {
  mkdirSync(dir, { recursive: true });
  writeFileAtomic(join(dir, 'model.safetensors'), writeSafetensors(modelStateDict(model), metadata));
  writeFileAtomic(join(dir, 'config.json'), `${JSON.stringify(modelConfigJson(model, extra), null, 2)}\n`);
}
