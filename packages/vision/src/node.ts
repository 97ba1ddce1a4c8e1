/**
 * `@tide/vision/node`: image-model checkpoint folders on disk (docs/checkpoints.md, "Image models"): `config.json`
 * + `model.safetensors` in the torchvision ViT, HF ViT or HF CvT layout; TIDE-trained ViTs are written in the
 * torchvision layout.
 *
 * @packageDocumentation
 */
import type { ReadTreeOptions } from '@tide/formats';
import { readCheckpointFolder, writeCheckpointFolder } from '@tide/formats/node';
import { visionConfigJson, visionModelFromTensors, visionStateDict } from './checkpoint.js';
import { parseVisionConfig } from './config.js';
import type { VisionModel } from './model.js';

/** Loads `dir/config.json` + `dir/model.safetensors` (torchvision ViT, HF ViT or HF CvT). */
export function loadVisionCheckpoint(dir: string, options: ReadTreeOptions = {}): VisionModel {
  const { config, weights, weightsFile } = readCheckpointFolder(dir, parseVisionConfig);
  return visionModelFromTensors(config, weights.tensors, weightsFile, options);
}

/** Writes a torchvision-layout ViT to `dir` (config.json with `extra`, model.safetensors; each atomically). */
export function saveVisionCheckpoint(
  model: VisionModel,
  dir: string,
  extra: Record<string, unknown> = {},
  metadata: Record<string, string> = { format: 'pt' },
): void {
  writeCheckpointFolder(dir, visionStateDict(model), visionConfigJson(model, extra), metadata);
}
