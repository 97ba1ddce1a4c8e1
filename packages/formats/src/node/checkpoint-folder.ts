/**
 * A checkpoint folder on disk (docs/checkpoints.md): `config.json` and `model.safetensors` side by side. Text and
 * image models read their folders through {@link readCheckpointFolder}, so a folder is checked one way: it must
 * exist and be a directory, its config is bounded JSON, its weights a valid safetensors file.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointError } from '../errors.js';
import { writeSafetensors, type SafetensorsFile, type TensorToWrite } from '../safetensors.js';
import { readJsonFile, readSafetensorsFile, writeFileAtomic } from './files.js';

/** What a checkpoint folder holds, with the paths it came from (for messages). */
export interface CheckpointFolder<C = unknown> {
  readonly config: C;
  readonly configFile: string;
  readonly weights: SafetensorsFile;
  readonly weightsFile: string;
}

/**
 * Reads `dir/config.json` and `dir/model.safetensors`; `parse` turns the config into the layout's own (its
 * errors name the config file) before the weights are read, so a bad config never costs a read of the weights.
 *
 * @throws CheckpointError for a missing folder, a file in its place, or a bad config or weights file
 */
export function readCheckpointFolder<C>(
  dir: string,
  parse: (config: ReturnType<typeof readJsonFile>, configFile: string) => C,
): CheckpointFolder<C> {
  if (typeof dir !== 'string' || !existsSync(dir) || !statSync(dir).isDirectory())
    throw new CheckpointError(String(dir), {
      expected: 'a model folder (config.json + model.safetensors)',
      received: typeof dir === 'string' && existsSync(dir) ? 'a file' : 'no such folder',
      fix: 'pass --model DIR',
    });
  const configFile = join(dir, 'config.json');
  const config = parse(readJsonFile(configFile), configFile);
  const weightsFile = join(dir, 'model.safetensors');
  const weights = readSafetensorsFile(weightsFile, 'the weights file model.safetensors');
  return { config, configFile, weights, weightsFile };
}

/**
 * Writes a checkpoint folder: `dir/model.safetensors` from `tensors` (with `metadata`) and `dir/config.json` from
 * `config`, each atomically (a reader never sees half a file); creates `dir` when needed.
 */
export function writeCheckpointFolder(
  dir: string,
  tensors: Record<string, TensorToWrite>,
  config: Record<string, unknown>,
  metadata: Record<string, string> = { format: 'pt' },
): void {
  mkdirSync(dir, { recursive: true });
  writeFileAtomic(join(dir, 'model.safetensors'), writeSafetensors(tensors, metadata));
  writeFileAtomic(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
}
