/**
 * The attention core every evaluation path of quadrature-weighted attention shares (paper §3; docs/integral-attention.md):
 *
 *     O_m,k = Σ_l softmax_l(s_m,kl + ln w_l) V_m,l,   s_m,kl = ⟨Q_m,k, K_m,l⟩ · scale,
 *
 * with the sum over the causal sub-domain l ≤ k when `causal` is set. The token weights enter as `ln w`
 * ({@link MASKED_SCORE} where w = 0), never as an N×N bias, so no path needs memory ∝ N² for them.
 */
import { tf } from '#tfjs-core';
import { BackendError, describeValue, formatShape } from '../errors.js';

/** The finite stand-in for −∞ in scores: `exp(−1e30 − max)` is exactly 0 in float32 on every backend. */
export const MASKED_SCORE = -1e30;

/** Inputs of the attention core. Tensors are owned by the caller. */
export interface AttentionCoreInputs {
  /** Queries `[B, H, N, d_k]`. */
  readonly q: tf.Tensor4D;
  /** Keys `[B, H, N, d_k]`. */
  readonly k: tf.Tensor4D;
  /** Values `[B, H, N, d_v]`. */
  readonly v: tf.Tensor4D;
  /** `ln w_l` per key, `[B|1, N]`; {@link MASKED_SCORE} for weight-0 (padding) keys. */
  readonly logWeights: tf.Tensor2D;
  /** Restrict query k to the keys l ≤ k (the causal sub-domain in grid order). */
  readonly causal: boolean;
  /** The score scale (`1/√d_k` for standard attention). */
  readonly scale: number;
}

/** Sizes of a checked core: batch, heads, tokens, key width, value width, batch of the weights. */
export interface AttentionCoreSizes {
  readonly batch: number;
  readonly heads: number;
  readonly tokens: number;
  readonly keyWidth: number;
  readonly valueWidth: number;
  readonly weightBatch: number;
}

/** Validates the core's inputs and returns its sizes; throws a {@link BackendError} naming every shape. */
export function checkAttentionCore(subject: string, c: AttentionCoreInputs): AttentionCoreSizes {
  const isTensor = (t: unknown, rank: number): t is tf.Tensor =>
    t instanceof tf.Tensor && t.rank === rank && !t.isDisposed;
  if (
    typeof c !== 'object' ||
    c === null ||
    !isTensor(c.q, 4) ||
    !isTensor(c.k, 4) ||
    !isTensor(c.v, 4) ||
    !isTensor(c.logWeights, 2)
  ) {
    throw new BackendError(subject, {
      expected: 'live tensors q, k [B, H, N, d_k], v [B, H, N, d_v] and logWeights [B|1, N]',
      received:
        c === null || typeof c !== 'object'
          ? describeValue(c)
          : `q ${describeValue(c.q)}, k ${describeValue(c.k)}, v ${describeValue(c.v)}, logWeights ${describeValue(c.logWeights)}`,
      fix: 'split the heads before calling the core, and pass ln w (MASKED_SCORE where w = 0) as a 2-D tensor',
    });
  }
  const [b, h, n, dk] = c.q.shape;
  const all = `q ${formatShape(c.q.shape)}, k ${formatShape(c.k.shape)}, v ${formatShape(c.v.shape)}, logWeights ${formatShape(c.logWeights.shape)}`;
  const wb = c.logWeights.shape[0];
  const ok =
    c.k.shape[0] === b &&
    c.k.shape[1] === h &&
    c.k.shape[2] === n &&
    c.k.shape[3] === dk &&
    c.v.shape[0] === b &&
    c.v.shape[1] === h &&
    c.v.shape[2] === n &&
    (wb === 1 || wb === b) &&
    c.logWeights.shape[1] === n;
  if (!ok) {
    throw new BackendError(subject, {
      expected: "k with the shape of q, v with q's B, H, N, and logWeights [1 or B, N]",
      received: all,
      fix: 'build q, k, v from the same field and the weights from its token grid',
    });
  }
  if (typeof c.scale !== 'number' || !Number.isFinite(c.scale) || c.scale <= 0 || typeof c.causal !== 'boolean') {
    throw new BackendError(subject, {
      expected: 'a positive finite scale and a boolean causal flag',
      received: `scale ${describeValue(c.scale)}, causal ${describeValue(c.causal)}`,
      fix: 'pass scale: 1 / Math.sqrt(d_k) and causal: false unless the operator is causal',
    });
  }
  return { batch: b, heads: h, tokens: n, keyWidth: dk, valueWidth: c.v.shape[3], weightBatch: wb };
}

/** Replaces the tensors in `state` by `next`, disposing the old ones (loops carry only these). */
export function carry<T extends Record<string, tf.Tensor>>(state: T, next: T): T {
  tf.dispose(Object.values(state));
  return next;
}

/** Concatenates blocks along `axis` and disposes them (a single block is returned as is). */
export function joinBlocks<T extends tf.Tensor>(parts: tf.Tensor[], axis: number): T {
  if (parts.length === 1) return parts[0] as T;
  const out = tf.concat(parts, axis);
  tf.dispose(parts);
  return out as T;
}
