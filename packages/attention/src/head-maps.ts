/**
 * The per-token feature maps of integral attention and the head split/merge (paper §3;
 * docs/integral-attention.md): `Q = u W^Q + b^Q` (likewise K, V), head m owning the columns
 * `m·w … (m+1)·w − 1`, and the output kernel `Σ_m context_m W^O_m + b^O`. Call inside `tf.tidy`.
 */
import { tf } from '@tide/backend';
import type { AttentionParameters, AttentionSizes } from './parameters.js';

/**
 * `[B, N, H·w] → [B, H, N, w]`. With one token or one head the layout is the same, and a reshape (no kernel
 * copying data) does it: the case of every step of generation with a key/value cache.
 */
export function splitHeads(t: tf.Tensor, b: number, n: number, heads: number, width: number): tf.Tensor4D {
  if (n === 1 || heads === 1) return tf.reshape(t, [b, heads, n, width]) as tf.Tensor4D;
  return tf.transpose(tf.reshape(t, [b, n, heads, width]), [0, 2, 1, 3]) as tf.Tensor4D;
}

/** `u W + b` per token: `[B, N, d] → [B, N, width]`. */
export function featureMap(x: tf.Tensor3D, w: tf.Tensor2D, bias: tf.Tensor1D | undefined): tf.Tensor3D {
  const [b, n, d] = x.shape;
  const flat = tf.matMul(tf.reshape(x, [b * n, d]), w); // [B·N, width]
  const shifted = bias === undefined ? flat : tf.add(flat, bias);
  return tf.reshape(shifted, [b, n, w.shape[1]]) as tf.Tensor3D; // [B, N, width]
}

/** The heads' contexts `[B, H, N, d_v]` through the output kernel: `Σ_m context_m W^O_m + b^O`, `[B, N, d_out]`. */
export function mergeHeads(context: tf.Tensor4D, params: AttentionParameters, sizes: AttentionSizes): tf.Tensor3D {
  const [b, h, n] = context.shape;
  const tokensFirst = n === 1 || h === 1 ? context : tf.transpose(context, [0, 2, 1, 3]); // [B, N, H, d_v] (a view when N or H is 1)
  const merged = tf.reshape(tokensFirst, [b * n, sizes.heads * sizes.valueWidth]); // [B·N, H·d_v]
  const projected = tf.matMul(merged, params.wo); // [B·N, d_out] = Σ_m context_m W^O_m
  const out = params.bo === undefined ? projected : tf.add(projected, params.bo);
  return tf.reshape(out, [b, n, sizes.outputFeatures]) as tf.Tensor3D; // [B, N, d_out]
}
