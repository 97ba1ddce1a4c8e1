// Checkpoint folders on disk (docs/checkpoints.md): saveCheckpoint writes config.json + model.safetensors in the
// model's layout (each atomically) and loadCheckpoint reads them back to the same config and parameters; a
// folder that is not a checkpoint is a CheckpointError, and a failed load leaves no tensors.
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flattenTree, tf } from '@tide/backend';
import { expectNoLeaks, thrownBy } from '@tide/backend/testing';
import { CheckpointError, readSafetensors } from '@tide/formats';
import { fixtureDir, FIXTURE_NAMES } from '@tide/fixtures';
import { parseConfig } from './checkpoint.js';
import type { TransformerModel } from './model.js';
import { loadCheckpoint, saveCheckpoint } from './node.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tide-node-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Every parameter of two models is equal, bit for bit, with the same paths and shapes. */
function expectSameParameters(a: TransformerModel, b: TransformerModel): void {
  const pa = flattenTree(a.parameters);
  const pb = flattenTree(b.parameters);
  expect([...pb.keys()]).toEqual([...pa.keys()]);
  for (const [path, t] of pa) {
    const u = pb.get(path)!;
    expect(u.shape, path).toEqual(t.shape);
    expect(u.dtype, path).toBe(t.dtype);
    expect(u.dataSync(), path).toEqual(t.dataSync());
  }
}

/** A copy of a fixture folder, to break. */
function copyOf(name: string, as: string): string {
  const to = join(dir, as);
  cpSync(fixtureDir(name), to, { recursive: true });
  return to;
}

describe('saveCheckpoint / loadCheckpoint', () => {
  it.each(FIXTURE_NAMES.map((n) => [n]))(
    '%s: save then load gives the same config and every parameter, bit for bit',
    (name) => {
      const model = loadCheckpoint(fixtureDir(name));
      const out = join(dir, `saved-${name}`);
      saveCheckpoint(model, out);
      expect(readdirSync(out).sort()).toEqual(['config.json', 'model.safetensors']); // no temporary file left
      const back = loadCheckpoint(out);
      expect(back.config).toEqual(model.config);
      expect(back.source).toBe(join(out, 'model.safetensors'));
      expectSameParameters(model, back);
      // config.json is what parseConfig reads back to the same config.
      const json = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
      expect(parseConfig(json)).toEqual(model.config);
      // The weights carry the default metadata and only the layout's keys (the original's, minus ignored buffers).
      const saved = readSafetensors(new Uint8Array(readFileSync(join(out, 'model.safetensors'))));
      expect(saved.metadata).toEqual({ format: 'pt' });
      const original = readSafetensors(new Uint8Array(readFileSync(join(fixtureDir(name), 'model.safetensors'))));
      expect([...saved.tensors.keys()].sort()).toEqual(
        [...original.tensors.keys()].filter((k) => !/\.attn\.(bias|masked_bias)$/.test(k)).sort(),
      );
      model.dispose();
      back.dispose();
    },
  );

  it('writes the extra config fields and metadata it is given, and a second save replaces the first', () => {
    const model = loadCheckpoint(fixtureDir('gpt2-tiny'));
    const out = join(dir, 'saved-extra');
    saveCheckpoint(model, out, { tide: { scheme: 'lie', stepsPerLayer: 2 } }, { format: 'pt', note: 'tide' });
    saveCheckpoint(model, out, { tide: { scheme: 'strang', stepsPerLayer: 4 } }, { format: 'pt', note: 'second' });
    const json = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(json['model_type']).toBe('gpt2');
    expect(json['tide']).toEqual({ scheme: 'strang', stepsPerLayer: 4 });
    expect(readSafetensors(new Uint8Array(readFileSync(join(out, 'model.safetensors')))).metadata).toEqual({
      format: 'pt',
      note: 'second',
    });
    expect(readdirSync(out).sort()).toEqual(['config.json', 'model.safetensors']);
    const back = loadCheckpoint(out);
    // The recorded scheme is the model's recommended discretisation once read back.
    expect(back.config).toEqual({ ...model.config, recommended: { scheme: 'strang', stepsPerLayer: 4 } });
    expectSameParameters(model, back);
    model.dispose();
    back.dispose();
  });

  it('creates the target folder (and its parents) when missing', () => {
    const model = loadCheckpoint(fixtureDir('encoder-postln-1head'));
    const out = join(dir, 'deep', 'er', 'folder');
    saveCheckpoint(model, out);
    const back = loadCheckpoint(out);
    expectSameParameters(model, back);
    model.dispose();
    back.dispose();
  });
});

describe('loadCheckpoint refuses what is not a checkpoint folder', () => {
  it('a folder whose model.safetensors is a directory: CheckpointError "regular file", nothing leaked', async () => {
    const d = join(dir, 'weights-is-a-dir');
    mkdirSync(join(d, 'model.safetensors'), { recursive: true });
    cpSync(join(fixtureDir('gpt2-tiny'), 'config.json'), join(d, 'config.json'));
    await expectNoLeaks(() => {
      const e = thrownBy(() => loadCheckpoint(d));
      expect(e).toBeInstanceOf(CheckpointError);
      expect(e.message).toBe(
        `${join(d, 'model.safetensors')}: expected the weights file model.safetensors (a regular file), received a directory. Fix: pass the path of a .safetensors file`,
      );
      expect(e.message).toMatch(/regular file/);
    });
  });

  it('a missing folder, a file instead of a folder, a folder without config.json', () => {
    const missing = join(dir, 'no-such-model');
    expect(thrownBy(() => loadCheckpoint(missing)).message).toBe(
      `${missing}: expected a model folder (config.json + model.safetensors), received no such folder. Fix: pass --model DIR`,
    );
    const file = join(dir, 'a-file');
    writeFileSync(file, '{}');
    expect(thrownBy(() => loadCheckpoint(file)).message).toBe(
      `${file}: expected a model folder (config.json + model.safetensors), received a file. Fix: pass --model DIR`,
    );
    expect(() => loadCheckpoint(undefined as never)).toThrow(CheckpointError);
    const empty = join(dir, 'empty-model');
    mkdirSync(empty);
    expect(() => loadCheckpoint(empty)).toThrow(CheckpointError);
    expect(() => loadCheckpoint(empty)).toThrow(/config\.json: expected a config\.json file, received no such file/);
  });

  it('a config.json that is invalid JSON or not an object', () => {
    const d = copyOf('encoder-postln-relu', 'bad-config');
    writeFileSync(join(d, 'config.json'), '{ "format": ');
    expect(() => loadCheckpoint(d)).toThrow(/config\.json: expected valid JSON/);
    writeFileSync(join(d, 'config.json'), '["torch-transformer-encoder"]');
    expect(() => loadCheckpoint(d)).toThrow(/config\.json: expected a JSON object, received an array of length 1/);
  });

  it('a failed load (weights that do not match the config, a truncated file) leaks nothing', async () => {
    const d = copyOf('gpt2-tiny', 'mismatched');
    const config = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(d, 'config.json'), JSON.stringify({ ...config, n_layer: 3 }));
    await expectNoLeaks(() => {
      const e = thrownBy(() => loadCheckpoint(d));
      expect(e).toBeInstanceOf(CheckpointError);
      expect(e.message).toMatch(
        /model\.safetensors: "h\.2\.ln_1\.weight": expected a tensor of shape \[16\] \(HF GPT-2 layout\), received no such key/,
      );
    }, 'a config with one layer too many');
    writeFileSync(join(d, 'config.json'), JSON.stringify({ ...config, n_layer: 1 }));
    await expectNoLeaks(() => {
      expect(() => loadCheckpoint(d)).toThrow(/unused tensor/);
    }, 'a config with one layer too few');
    writeFileSync(join(d, 'config.json'), JSON.stringify(config));
    const bytes = readFileSync(join(d, 'model.safetensors'));
    writeFileSync(join(d, 'model.safetensors'), bytes.subarray(0, bytes.length - 100));
    await expectNoLeaks(() => {
      expect(() => loadCheckpoint(d)).toThrow(/the file is truncated/);
    }, 'truncated weights');
    // And a successful load owns exactly its parameters.
    const before = tf.memory().numTensors;
    const model = loadCheckpoint(fixtureDir('gpt2-tiny'));
    expect(tf.memory().numTensors - before).toBe(flattenTree(model.parameters).size);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
