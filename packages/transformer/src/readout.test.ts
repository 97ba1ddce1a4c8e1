// The readout (paper §2; docs/projections.md): u(T) ↦ head(affine(P^ε(u))), each part only when the model has it.
// Compared with LayerNorm + affine and h · Wᵀ written by hand; the output is always a new tensor and the
// input is kept; bad hidden states are InputErrors.
import { describe, expect, it } from 'vitest';
import { seededRandom, tf } from '@tide/backend';
import { expectClose, expectNoLeaks, expectTensorCount } from '@tide/backend/testing';
import { field } from '@tide/domain';
import { fixtureDir } from '@tide/fixtures';
import { InputError } from './errors.js';
import { transformerModel, type TransformerModel } from './model.js';
import { loadCheckpoint } from './node.js';
import { languageModelHead, modelReadout } from './readout.js';

/** Deterministic hidden states `[B, N, d]` with values in (−3, 3) and a per-token offset (so the mean matters). */
function hidden(shape: [number, number, number], seed: number): tf.Tensor3D {
  const next = seededRandom(seed);
  const n = shape[0] * shape[1] * shape[2];
  return tf.tensor3d(
    Float32Array.from({ length: n }, (_, i) => 6 * next() - 3 + Math.floor(i / shape[2])),
    shape,
  );
}

/** nn.LayerNorm(eps) with its affine map, by hand: (x − mean)/√(var + ε)·γ + β over the last axis. */
function layerNormByHand(x: tf.Tensor3D, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number): tf.Tensor3D {
  return tf.tidy(() => {
    const mean = tf.mean(x, -1, true);
    const centred = tf.sub(x, mean);
    const variance = tf.mean(tf.square(centred), -1, true); // biased, as nn.LayerNorm
    return tf.add(tf.mul(tf.div(centred, tf.sqrt(tf.add(variance, eps))), gamma), beta) as tf.Tensor3D;
  });
}

/** logits[b][n][v] = Σ_d h[b][n][d]·W[v][d], with plain loops. */
function logitsByHand(h: tf.Tensor3D, w: tf.Tensor2D): number[][][] {
  const hs = h.arraySync();
  const ws = w.arraySync();
  return hs.map((tokens) => tokens.map((row) => ws.map((wv) => wv.reduce((acc, x, d) => acc + x * row[d]!, 0))));
}

function load(name: string): TransformerModel {
  return loadCheckpoint(fixtureDir(name));
}

describe('modelReadout', () => {
  it('without a final norm or head (post-LN encoder) returns a copy of u: equal values, a new tensor, u kept', async () => {
    const model = load('encoder-postln-relu');
    expect(model.parameters.finalNorm).toBeUndefined();
    const u = field(hidden([2, 3, 16], 1));
    const out = await expectTensorCount(() => modelReadout(model, 2)(u), 1, 'readout without final norm');
    expect(out).not.toBe(u.values);
    expect(out.shape).toEqual([2, 3, 16]);
    expect(Array.from(out.dataSync())).toEqual(Array.from(u.values.dataSync()));
    out.dispose();
    expect(u.values.isDisposed).toBe(false);
    u.dispose();
    model.dispose();
  });

  it('with a final norm (pre-LN encoder) is LayerNorm + affine computed by hand', async () => {
    const model = load('encoder-preln-gelu');
    const norm = model.parameters.finalNorm!;
    expect(norm).toBeDefined();
    const u = field(hidden([2, 4, 16], 2));
    const out = await expectTensorCount(() => modelReadout(model, 2)(u), 1, 'readout with final norm');
    const ref = layerNormByHand(u.values, norm.gamma, norm.beta, model.config.epsilon);
    expect(out.shape).toEqual([2, 4, 16]);
    expectClose(out, ref, { atol: 1e-5, rtol: 1e-5 }, 'final norm');
    expect(u.values.isDisposed).toBe(false);
    tf.dispose([out, ref]);
    u.dispose();
    model.dispose();
  });

  it('of GPT-2 is ln_f then the tied head: (LayerNorm(u)·γ + β)·wteᵀ', async () => {
    const model = load('gpt2-tiny');
    const { finalNorm, embeddings } = model.parameters;
    const u = field(hidden([1, 3, 16], 3));
    const out = await expectTensorCount(() => modelReadout(model, 2)(u), 1, 'GPT-2 readout');
    expect(out.shape).toEqual([1, 3, model.config.vocabSize!]);
    const normed = layerNormByHand(u.values, finalNorm!.gamma, finalNorm!.beta, model.config.epsilon);
    expectClose(out, logitsByHand(normed, embeddings!.tokens), { atol: 1e-4, rtol: 1e-4 }, 'logits');
    tf.dispose([out, normed]);
    u.dispose();
    model.dispose();
  });

  it('the same readout serves several states, and each call leaves only its result', async () => {
    const model = load('encoder-preln-gelu');
    const readout = modelReadout(model, 2);
    for (const seed of [4, 5]) {
      const u = field(hidden([1, 2, 16], seed));
      await expectNoLeaks(() => readout(u), `readout ${seed}`);
      u.dispose();
    }
    model.dispose();
  });
});

describe('languageModelHead', () => {
  it('is h · wteᵀ for a tied head', async () => {
    const model = load('gpt2-tiny');
    const h = hidden([2, 3, 16], 6);
    const logits = await expectTensorCount(() => languageModelHead(model, h), 1, 'languageModelHead');
    expect(logits.shape).toEqual([2, 3, 50]);
    expectClose(
      logits,
      logitsByHand(h, model.parameters.embeddings!.tokens),
      { atol: 1e-4, rtol: 1e-4 },
      'tied logits',
    );
    expect(h.isDisposed).toBe(false);
    tf.dispose([h, logits]);
    model.dispose();
  });

  it('uses an untied lm_head when the model has one: h · headᵀ', () => {
    const model = load('gpt2-tiny');
    const emb = model.parameters.embeddings!;
    const head = tf.tidy(() => tf.reverse(tf.mul(emb.tokens, -0.5), 0) as tf.Tensor2D);
    const untied = transformerModel(model.config, { ...model.parameters, embeddings: { ...emb, head } }, 'untied');
    const h = hidden([1, 2, 16], 7);
    const logits = languageModelHead(untied, h);
    expectClose(logits, logitsByHand(h, head), { atol: 1e-4, rtol: 1e-4 }, 'untied logits');
    tf.dispose([h, logits, head]);
    model.dispose();
  });

  it('refuses an encoder and hidden states of the wrong rank, width or type with an InputError', async () => {
    const encoder = load('encoder-postln-relu');
    const gpt = load('gpt2-tiny');
    const h = hidden([1, 2, 16], 8);
    expect(() => languageModelHead(encoder, h)).toThrow(InputError);
    expect(() => languageModelHead(encoder, h)).toThrow(
      /^readout: expected a model with an LM head \(GPT-2\), received a torch-encoder model\. Fix: encoders return hidden states/,
    );
    const bad: [unknown, string][] = [
      [tf.zeros([2, 16]), '2,16'],
      [tf.zeros([1, 2, 8]), '1,2,8'],
      [tf.zeros([1, 1, 2, 16]), '1,1,2,16'],
      [[[[0]]], 'undefined'],
      [undefined, 'undefined'],
    ];
    await expectNoLeaks(() => {
      for (const [x, received] of bad) {
        expect(() => languageModelHead(gpt, x as tf.Tensor3D), received).toThrow(InputError);
        expect(() => languageModelHead(gpt, x as tf.Tensor3D), received).toThrow(
          `readout: expected hidden states [B, N, 16], received ${received}. Fix: pass the final state of the solve`,
        );
      }
    });
    tf.dispose([h, ...bad.map(([x]) => x).filter((x): x is tf.Tensor => x instanceof tf.Tensor)]);
    encoder.dispose();
    gpt.dispose();
  });
});
