// Test helper: the attention core written plainly (the N×N kernel), and random inputs for it.
import { tf } from '#tfjs-core';
import { MASKED_SCORE, type AttentionCoreInputs } from './attention-core.js';

/** `softmax(QKᵀ·scale + ln w (+ causal −∞)) V` with the full N×N kernel: `[B, H, N, d_v]`. */
export function plainAttentionCore(c: AttentionCoreInputs): tf.Tensor4D {
  return tf.tidy(() => {
    const n = c.q.shape[2];
    let bias: tf.Tensor = tf.reshape(c.logWeights, [c.logWeights.shape[0], 1, 1, n]); // [B|1, 1, 1, N]
    if (c.causal) {
      const future = tf.greater(
        tf.reshape(tf.range(0, n, 1, 'int32'), [1, n]),
        tf.reshape(tf.range(0, n, 1, 'int32'), [n, 1]),
      ); // [N, N]: l > k
      bias = tf.add(bias, tf.reshape(tf.mul(tf.cast(future, 'float32'), MASKED_SCORE), [1, 1, n, n]));
    }
    const alpha = tf.softmax(tf.add(tf.mul(tf.matMul(c.q, c.k, false, true), c.scale), bias)); // [B, H, N, N]
    return tf.matMul(alpha, c.v) as tf.Tensor4D;
  });
}

/** `ln w` with MASKED_SCORE where w = 0: `[rows, N]`. */
export function logWeightsOf(weights: number[][]): tf.Tensor2D {
  return tf.tensor2d(weights.map((row) => row.map((w) => (w > 0 ? Math.log(w) : MASKED_SCORE))));
}

/** Random core inputs of the given sizes (seeds ≥ 1: tfjs treats 0 as unseeded). */
export function randomCore(
  b: number,
  h: number,
  n: number,
  dk: number,
  dv: number,
  weights: number[][],
  causal: boolean,
  seed = 1,
): AttentionCoreInputs {
  return {
    q: tf.randomNormal([b, h, n, dk], 0, 1, 'float32', seed) as tf.Tensor4D,
    k: tf.randomNormal([b, h, n, dk], 0, 1, 'float32', seed + 1) as tf.Tensor4D,
    v: tf.randomNormal([b, h, n, dv], 0, 1, 'float32', seed + 2) as tf.Tensor4D,
    logWeights: logWeightsOf(weights),
    causal,
    scale: 1 / Math.sqrt(dk),
  };
}

/** Non-uniform weights on n tokens (a smooth positive profile), the last `padding` set to 0. */
export function profileWeights(n: number, padding: number, phase = 0): number[] {
  return Array.from({ length: n }, (_, i) => (i >= n - padding ? 0 : (0.5 + 0.4 * Math.sin(0.7 * i + phase)) / n));
}

/** The four cases every evaluation path must match the plain path on. */
export const PARITY_CASES = [
  { name: 'uniform', causal: false, weights: (n: number) => [Array.from({ length: n }, () => 1 / n)] },
  {
    name: 'causal, per-sample padded',
    causal: true,
    weights: (n: number) => [profileWeights(n, 0), profileWeights(n, 7, 1)],
  },
  {
    name: 'non-uniform, per-sample padded',
    causal: false,
    weights: (n: number) => [profileWeights(n, 5), profileWeights(n, 0, 2)],
  },
  { name: 'causal, uniform', causal: true, weights: (n: number) => [Array.from({ length: n }, () => 1)] },
] as const;

/** Gradients of `Σ core(q, k, v) ⊙ dy` with respect to q, k, v. */
export function coreGradients(
  impl: (c: AttentionCoreInputs) => tf.Tensor4D,
  c: AttentionCoreInputs,
  dy: tf.Tensor,
): tf.Tensor[] {
  return tf.grads((q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) =>
    tf.sum(tf.mul(impl({ ...c, q: q as tf.Tensor4D, k: k as tf.Tensor4D, v: v as tf.Tensor4D }), dy)),
  )([c.q, c.k, c.v]);
}

/** Disposes the tensors of a core. */
export function disposeCore(c: AttentionCoreInputs): void {
  tf.dispose([c.q, c.k, c.v, c.logWeights]);
}
