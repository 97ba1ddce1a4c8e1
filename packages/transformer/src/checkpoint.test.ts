import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { expectNoLeaks } from '@tide/backend/testing';
import { CheckpointError, readSafetensors, type SafeTensor } from '@tide/formats';
import { fixtureDir, fixtureIO, maxAbsDiff } from '@tide/fixtures';
import { modelConfigJson, modelFromTensors, modelStateDict, parseConfig } from './checkpoint.js';
import { transformerModel } from './model.js';
import { forward } from './forward.js';
import { loadCheckpoint } from './node.js';

const gptDir = fixtureDir('gpt2-tiny');
const gptConfig = JSON.parse(readFileSync(join(gptDir, 'config.json'), 'utf8'));
const gptTensors = readSafetensors(new Uint8Array(readFileSync(join(gptDir, 'model.safetensors')))).tensors;

describe('checkpoint import', () => {
  it('tolerates a transformer. prefix and the attn.bias buffers, and uses an lm_head when present', () => {
    const prefixed = new Map<string, SafeTensor>([...gptTensors].map(([k, v]) => [`transformer.${k}`, v]));
    const io = fixtureIO('gpt2-tiny');
    const a = modelFromTensors(parseConfig(gptConfig), gptTensors);
    const b = modelFromTensors(parseConfig(gptConfig), prefixed);
    const ya = forward(a, { inputIds: io.inputIds! }).output;
    const yb = forward(b, { inputIds: io.inputIds! }).output;
    expect(maxAbsDiff(ya, yb)).toBe(0);
    // An untied head: doubling lm_head doubles the logits.
    const wte = gptTensors.get('wte.weight')!;
    const withHead = new Map(gptTensors);
    withHead.set('lm_head.weight', { ...wte, data: (wte.data as Float32Array).map((x) => 2 * x) });
    const c = modelFromTensors(parseConfig(gptConfig), withHead);
    const yc = forward(c, { inputIds: io.inputIds! }).output;
    expect(maxAbsDiff(yc, tf.mul(ya, 2))).toBeLessThan(1e-4);
    tf.dispose([ya, yb, yc]);
    [a, b, c].forEach((m) => m.dispose());
    io.dispose();
  });

  it('a failed load leaves no tensors behind', async () => {
    const missing = new Map(gptTensors);
    missing.delete('h.1.mlp.c_proj.bias');
    await expectNoLeaks(() => {
      expect(() => modelFromTensors(parseConfig(gptConfig), missing)).toThrow(
        /"h\.1\.mlp\.c_proj\.bias": expected a tensor of shape \[16\] \(HF GPT-2 layout\), received no such key/,
      );
    });
    const model = loadCheckpoint(gptDir);
    const before = tf.memory().numTensors;
    model.dispose();
    expect(tf.memory().numTensors).toBeLessThan(before);
  });

  it('validates the config', () => {
    expect(() => parseConfig({ ...gptConfig, n_head: 3 })).toThrow(
      /"n_head": expected a divisor of n_embd = 16, received 3/,
    );
    expect(() => parseConfig({ ...gptConfig, activation_function: 'relu' })).toThrow(
      /"activation_function": expected "gelu_new" or "gelu"/,
    );
    expect(() => parseConfig({ ...gptConfig, n_layer: 0 })).toThrow(CheckpointError);
    expect(() => parseConfig({ ...gptConfig, tide_tokenizer: { type: 'chars', alphabet: 'abc' } })).toThrow(
      /tide_tokenizer.*<50 characters>/,
    );
    expect(() =>
      parseConfig({ format: 'torch-transformer-encoder', d_model: 8, nhead: 2, num_layers: 1, activation: 'swish' }),
    ).toThrow(/"activation": expected "relu" or "gelu"/);
    expect(() =>
      parseConfig({ format: 'torch-transformer-encoder', d_model: 8, nhead: 2, num_layers: 1, norm_first: 'yes' }),
    ).toThrow(/"norm_first": expected true or false/);
    expect(parseConfig({ ...gptConfig, vocab_size: 50257 }).tokenizer).toEqual({ type: 'gpt2' });
  });

  it('refuses tensors the config does not use (an extra layer, a final norm turned off), unless allowed, and lists them', async () => {
    const oneLayer = { ...gptConfig, n_layer: 1 };
    await expectNoLeaks(() => {
      expect(() => modelFromTensors(parseConfig(oneLayer), gptTensors)).toThrow(
        /"h\.1\.ln_1\.weight".* and \d+ more: expected only the tensors of the HF GPT-2 layout that config\.json describes, received 12 unused tensor\(s\)/,
      );
    });
    const allowed = modelFromTensors(parseConfig(oneLayer), gptTensors, 'model.safetensors', {
      allowUnusedTensors: true,
    });
    expect(allowed.parameters.layers).toHaveLength(1);
    allowed.dispose();
    const encDir = fixtureDir('encoder-preln-gelu');
    const encConfig = JSON.parse(readFileSync(join(encDir, 'config.json'), 'utf8'));
    const encTensors = readSafetensors(new Uint8Array(readFileSync(join(encDir, 'model.safetensors')))).tensors;
    if (encConfig.final_norm)
      expect(() => modelFromTensors(parseConfig({ ...encConfig, final_norm: false }), encTensors)).toThrow(
        /"norm\.weight", "norm\.bias": expected only the tensors/,
      );
  });

  it('writes back exactly what it read (the same key table, both layouts)', () => {
    for (const name of ['gpt2-tiny', 'encoder-postln-relu']) {
      const dir = fixtureDir(name);
      const tensors = readSafetensors(new Uint8Array(readFileSync(join(dir, 'model.safetensors')))).tensors;
      const model = modelFromTensors(parseConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))), tensors);
      const written = modelStateDict(model);
      for (const [key, t] of Object.entries(written)) {
        const original = tensors.get(key)!;
        expect(original, key).toBeDefined();
        expect(t.shape).toEqual(original.shape);
        expect(Array.from(t.data as Float32Array)).toEqual(Array.from(original.data));
      }
      const parameters = [...tensors.keys()].filter((k) => !/\.attn\.(bias|masked_bias)$/.test(k));
      expect(Object.keys(written).sort()).toEqual(parameters.sort());
      model.dispose();
    }
  });

  it('a post-LN GPT-2 config says so under "tide" whatever else the caller records there, and reads back post-LN', () => {
    const model = modelFromTensors(parseConfig(gptConfig), gptTensors);
    const postLn = transformerModel({ ...model.config, normFirst: false }, model.parameters, 'post-ln');
    const json = modelConfigJson(postLn, { tide: { scheme: 'lie', trainedSteps: 3 } });
    expect(json['tide']).toEqual({ scheme: 'lie', trainedSteps: 3, norm_first: false });
    expect(parseConfig(json).normFirst).toBe(false);
    expect(parseConfig(modelConfigJson(model, { tide: { scheme: 'lie' } })).normFirst).toBe(true);
    model.dispose();
  });

  it('refuses non-finite weights', () => {
    const bad = new Map(gptTensors);
    const w = gptTensors.get('ln_f.bias')!;
    bad.set('ln_f.bias', { ...w, data: Float32Array.from(w.data, (x, i) => (i === 3 ? NaN : x)) });
    expect(() => modelFromTensors(parseConfig(gptConfig), bad)).toThrow(
      /"ln_f\.bias": expected finite weights, received NaN at index 3/,
    );
  });
});
