// The playground's loader of picked checkpoint folders: real fixtures load, and hostile files are one typed
// error each (never a crash from inside the readers).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { CheckpointError } from '@tide/formats';
import { MAX_CONFIG_BYTES, modelFromFiles, type PickedFile } from './model-files.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const fileOf = (name: string, bytes: Uint8Array, folder = 'ckpt'): PickedFile => ({
  name,
  size: bytes.byteLength,
  webkitRelativePath: `${folder}/${name}`,
  arrayBuffer: async () => bytes.slice().buffer,
});
const folder = (dir: string, names = ['config.json', 'model.safetensors', 'io.safetensors']): PickedFile[] =>
  names.map((n) => fileOf(n, new Uint8Array(readFileSync(`${root}/${dir}/${n}`)), dir.split('/').pop()));
const text = (s: string) => new TextEncoder().encode(s);

describe('modelFromFiles', () => {
  it('loads the GPT-2 fixture folder (io.safetensors beside it is ignored) and frees every tensor on dispose', async () => {
    const before = tf.memory().numTensors;
    const loaded = await modelFromFiles(folder('tools/fixtures/data/gpt2-tiny'));
    expect(loaded.model.config.layout).toBe('gpt2');
    expect(loaded.name).toBe('gpt2-tiny');
    expect(loaded.tokenizer).toBeUndefined();
    expect(loaded.description).toMatch(/GPT-2 layout.*2 layers, d 16, 2 heads.*no tokenizer/);
    loaded.model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('loads an encoder fixture and the embedded default model with its tokenizer', async () => {
    const enc = await modelFromFiles(folder('tools/fixtures/data/encoder-preln-gelu'));
    expect(enc.description).toMatch(/PyTorch encoder layout.*pre-LN/);
    enc.model.dispose();
    const def = await modelFromFiles(folder('packages/cli/models/default', ['config.json', 'model.safetensors']));
    expect(def.tokenizer?.decode(def.tokenizer.encode('Hello'))).toBe('Hello');
    def.model.dispose();
  });

  it('names what is missing when the folder lacks the weights or holds two configs', async () => {
    const config = fileOf('config.json', text('{}'));
    await expect(modelFromFiles([config])).rejects.toThrow(
      /expected one config\.json and one model\.safetensors.*received files config\.json/,
    );
    await expect(modelFromFiles([])).rejects.toThrow(/received no files/);
    await expect(modelFromFiles([config, config, fileOf('model.safetensors', text('x'))])).rejects.toBeInstanceOf(
      CheckpointError,
    );
    await expect(modelFromFiles('nope' as never)).rejects.toThrow(/expected a list of files/);
  });

  it('refuses a config.json that is not JSON, or too large, before reading the weights', async () => {
    const weights = fileOf('model.safetensors', text('not read'));
    await expect(modelFromFiles([fileOf('config.json', text('{oops')), weights])).rejects.toThrow(
      /config\.json.*expected a JSON object.*not JSON/,
    );
    await expect(modelFromFiles([fileOf('config.json', text('[1]')), weights])).rejects.toThrow(
      /expected a JSON object/,
    );
    const huge = { ...fileOf('config.json', text('{}')), size: MAX_CONFIG_BYTES + 1 };
    await expect(modelFromFiles([huge, weights])).rejects.toThrow(/at most 1048576 bytes/);
  });

  it('any bytes as weights give a CheckpointError or a model, never another error (property)', async () => {
    const config = readFileSync(`${root}/tools/fixtures/data/gpt2-tiny/config.json`);
    const real = new Uint8Array(readFileSync(`${root}/tools/fixtures/data/gpt2-tiny/model.safetensors`));
    const before = tf.memory().numTensors;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 256 }),
          // A real file with a few bytes changed, or cut short.
          fc
            .tuple(
              fc.array(fc.tuple(fc.nat(real.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
              fc.nat(real.length),
            )
            .map(([edits, cut]) => {
              const b = real.slice(0, Math.max(8, cut));
              for (const [i, v] of edits) if (i < b.length) b[i] = v;
              return b;
            }),
        ),
        async (bytes) => {
          try {
            const loaded = await modelFromFiles([fileOf('config.json', config), fileOf('model.safetensors', bytes)]);
            loaded.model.dispose();
          } catch (error) {
            expect(error).toBeInstanceOf(CheckpointError);
          }
        },
      ),
      { numRuns: 60, seed: 11 },
    );
    expect(tf.memory().numTensors).toBe(before);
  });
});
