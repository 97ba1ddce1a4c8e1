/**
 * PyTorch's `nn.MultiheadAttention` as the controls θ of integral attention (paper §3;
 * docs/integral-attention.md). PyTorch computes, per head m of width d_k = d/H,
 *
 *     Q = x W_qᵀ + b_q,  K = x W_kᵀ + b_k,  V = x W_vᵀ + b_v   (W_q, W_k, W_v: the row blocks of in_proj_weight),
 *     out = concat_m(softmax(Q_m K_mᵀ/√d_k) V_m) W_oᵀ + b_o,
 *
 * so TIDE's kernels, which act on the right (`[in, out]`), are the transposed blocks: `W^Q = W_qᵀ`, and so on.
 * Head m owns the columns `m·d_k … (m+1)·d_k − 1` in both layouts, and the default scale 1/√d_k is PyTorch's.
 */
import { tf, describeValue, formatShape } from '@tide/backend';
import { ShapeError } from '@tide/domain';
import type { AttentionParameters } from './parameters.js';

/** The state dict entries of one `nn.MultiheadAttention` (embed_dim = kdim = vdim = d). Held by the caller. */
export interface TorchMultiheadAttention {
  /** `in_proj_weight`: `[3d, d]`, rows 0…d−1 the query, d…2d−1 the key, 2d…3d−1 the value projection. */
  readonly inProjWeight: tf.Tensor2D;
  /** `in_proj_bias`: `[3d]` (absent with `bias=False`). */
  readonly inProjBias?: tf.Tensor1D;
  /** `out_proj.weight`: `[d, d]` (`Linear` `[out, in]`). */
  readonly outProjWeight: tf.Tensor2D;
  /** `out_proj.bias`: `[d]`. */
  readonly outProjBias?: tf.Tensor1D;
}

/**
 * `nn.MultiheadAttention`'s weights as {@link AttentionParameters}: `wq, wk, wv = (row block of
 * in_proj_weight)ᵀ [d, d]`, `wo = out_proj.weightᵀ [d, d]`, `bq, bk, bv` the thirds of `in_proj_bias`,
 * `bo = out_proj.bias`. Every returned tensor is new and owned by the caller; the inputs are kept.
 * Evaluate with `{ heads: num_heads }` (and `causal: true` for a causal `attn_mask`).
 *
 * Shapes: `inProjWeight [3d, d]`, `inProjBias [3d]`, `outProjWeight [d, d]`, `outProjBias [d]`.
 * Separate `q_proj_weight`/`k_proj_weight`/`v_proj_weight` (kdim or vdim ≠ d) are not covered: transpose
 * them one by one.
 *
 * @throws ShapeError naming every shape when the weights or biases do not have these shapes
 */
export function fromTorchMultiheadAttention(torch: TorchMultiheadAttention): AttentionParameters {
  if (typeof torch !== 'object' || torch === null) {
    throw new ShapeError('fromTorchMultiheadAttention', {
      expected: 'an object { inProjWeight, inProjBias?, outProjWeight, outProjBias? }',
      received: describeValue(torch),
      fix: 'pass the state dict entries in_proj_weight, in_proj_bias, out_proj.weight, out_proj.bias',
    });
  }
  const { inProjWeight, inProjBias, outProjWeight, outProjBias } = torch;
  const entries = { inProjWeight, inProjBias, outProjWeight, outProjBias };
  const all = Object.entries(entries)
    .map(([name, t]) => `${name} ${t instanceof tf.Tensor ? formatShape(t.shape) : describeValue(t)}`)
    .join(', ');
  const d = outProjWeight instanceof tf.Tensor && outProjWeight.rank === 2 ? outProjWeight.shape[1] : undefined;
  const expectShape = (name: keyof typeof entries, shape: readonly number[], optional: boolean) => {
    const t = entries[name];
    if (optional && t === undefined) return;
    if (!(t instanceof tf.Tensor) || formatShape(t.shape) !== formatShape(shape)) {
      const transposed =
        name === 'inProjWeight' && t instanceof tf.Tensor && t.rank === 2 && t.shape[1] === 3 * t.shape[0]!;
      throw new ShapeError(`fromTorchMultiheadAttention: ${name}`, {
        expected: `shape ${formatShape(shape)} (d = ${d ?? 'the columns of outProjWeight'})`,
        received: all,
        fix: transposed
          ? 'in_proj_weight is stored [3d, d] (Linear [out, in]); this one looks transposed already — pass the state dict tensor as it is'
          : 'pass the state dict tensors of one nn.MultiheadAttention, untransposed',
      });
    }
  };
  if (d === undefined || outProjWeight.shape[0] !== d) {
    throw new ShapeError('fromTorchMultiheadAttention: outProjWeight', {
      expected: 'a square 2-D weight [d, d]',
      received: all,
      fix: 'pass out_proj.weight of the same module',
    });
  }
  expectShape('inProjWeight', [3 * d, d], false);
  expectShape('inProjBias', [3 * d], true);
  expectShape('outProjBias', [d], true);
  const block = (i: number) => tf.tidy(() => tf.transpose(tf.slice(inProjWeight, [i * d, 0], [d, d])) as tf.Tensor2D); // [d, d]: W_iᵀ
  const third = (bias: tf.Tensor1D, i: number) => tf.slice(bias, [i * d], [d]); // [d]
  return {
    wq: block(0),
    wk: block(1),
    wv: block(2),
    wo: tf.transpose(outProjWeight), // [d, d]: W_oᵀ
    ...(inProjBias !== undefined && { bq: third(inProjBias, 0), bk: third(inProjBias, 1), bv: third(inProjBias, 2) }),
    ...(outProjBias !== undefined && { bo: tf.clone(outProjBias) }),
  };
}
