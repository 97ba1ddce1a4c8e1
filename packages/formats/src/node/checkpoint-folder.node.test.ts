// Checkpoint folders: written atomically and read back; a missing folder, a file in its place and a bad config
// are CheckpointErrors, and a bad config is refused before the weights are read.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { CheckpointError } from '../errors.js';
import { readCheckpointFolder, writeCheckpointFolder } from './checkpoint-folder.js';

const work = mkdtempSync(join(tmpdir(), 'tide-folder-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

it('writes a folder and reads it back through the layout parser', () => {
  const dir = join(work, 'model');
  writeCheckpointFolder(dir, { w: { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) } }, { d: 2 });
  const read = readCheckpointFolder(dir, (raw, file) => ({ d: raw['d'] as number, file }));
  expect(read.config).toEqual({ d: 2, file: join(dir, 'config.json') });
  expect(Array.from(read.weights.tensors.get('w')!.data)).toEqual([1, 2]);
  expect(read.weightsFile).toBe(join(dir, 'model.safetensors'));
});

it('refuses a missing folder, a file in its place, and parses the config before reading the weights', () => {
  expect(() => readCheckpointFolder(join(work, 'nope'), (raw) => raw)).toThrow(/no such folder/);
  const file = join(work, 'file');
  writeFileSync(file, 'x');
  expect(() => readCheckpointFolder(file, (raw) => raw)).toThrow(CheckpointError);
  const dir = join(work, 'bad');
  mkdirSync(dir);
  writeFileSync(join(dir, 'config.json'), '{}');
  writeFileSync(join(dir, 'model.safetensors'), 'not safetensors');
  expect(() =>
    readCheckpointFolder(dir, () => {
      throw new CheckpointError('config.json', { expected: 'a layout', received: '{}' });
    }),
  ).toThrow(/a layout/);
  expect(() => readCheckpointFolder(dir, (raw) => raw)).toThrow(CheckpointError); // the weights, once the config passes
});
