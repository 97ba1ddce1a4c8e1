/**
 * Reading and writing checkpoint files from Node (the `@tide/formats/node` entry; the main entry stays
 * browser-safe). Paths are checked before they are opened: a directory, a FIFO or a device is refused with a
 * {@link CheckpointError} instead of being read forever, and outputs are written to a temporary file that is
 * renamed at the end, so a failed run never leaves a partial file.
 */
import { existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { describeValue } from '@tide/backend';
import { CheckpointError } from '../errors.js';
import { readSafetensors, type SafetensorsFile } from '../safetensors.js';

/** Checks that `file` is an existing regular file; `what` names it in the error (e.g. "the weights file"). */
export function checkRegularFile(file: string, what: string, fix: string): void {
  if (typeof file !== 'string' || file === '')
    throw new CheckpointError(what, { expected: 'a file path', received: describeValue(file), fix });
  if (!existsSync(file)) throw new CheckpointError(file, { expected: what, received: 'no such file', fix });
  const stat = statSync(file);
  if (!stat.isFile())
    throw new CheckpointError(file, {
      expected: `${what} (a regular file)`,
      received: stat.isDirectory() ? 'a directory' : 'a FIFO, socket or device',
      fix,
    });
}

/** Reads and parses a `.safetensors` file. */
export function readSafetensorsFile(file: string, what = 'a .safetensors file'): SafetensorsFile {
  checkRegularFile(file, what, 'pass the path of a .safetensors file');
  return readSafetensors(new Uint8Array(readFileSync(file)), file);
}

/** Reads a JSON object from a file (a config.json). */
export function readJsonFile(file: string, what = 'a config.json file'): Record<string, unknown> {
  checkRegularFile(file, what, 'point --model at a folder with config.json and model.safetensors');
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CheckpointError(file, {
      expected: 'valid JSON',
      received: (e as Error).message.slice(0, 120),
      fix: 'repair or regenerate the file',
    });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new CheckpointError(file, {
      expected: 'a JSON object',
      received: describeValue(value),
      fix: 'repair the file',
    });
  return value as Record<string, unknown>;
}

/** Writes `data` to `file` through a temporary file in the same folder, renamed at the end. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.partial`);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, file);
  } catch (error) {
    rmSync(tmp, { force: true });
    throw error;
  }
}
