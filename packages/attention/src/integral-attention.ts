/**
 * Integral attention: self-attention as a non-local integral operator over the token domain (paper §3).
 *
 *     A[u](x, y) = Σ_m ∫_{Ω_x} γ_m(x, x̃) V_m(x̃, y) dx̃,
 *     γ_m(x, x̃) = exp(s_m(x, x̃)) / ∫_{Ω_x} exp(s_m(x, η)) dη,   s_m(x, x̃) = ⟨Q_m(x, ·), K_m(x̃, ·)⟩ · scale,
 *
 * with `Q = u W^Q + b^Q`, `K = u W^K + b^K`, and head m's block of the output kernel folded into its value
 * map, `V_m = (u W^V_m + b^V_m) W^O_m` (docs/integral-attention.md). On a token grid with weights w_l the token integrals are
 * quadratures, so the discrete operator is
 *
 *     A[u]_k = Σ_m Σ_l α_m,kl V_m,l,   α_m,kl = w_l γ_m(x_k, x_l) = softmax_l(s_m,kl + ln w_l),
 *
 * plus `b^O`. A uniform weight cancels (standard attention); Gauss–Legendre and irregular grids, and
 * padding (w = 0), enter through `ln w`. Computed on one of three paths (`options.implementation`): `'plain'` — the N×N kernel with matMul/softmax, the reference
and what the inspection functions return; `'blocked'` — query blocks, one (sample, head) at a time with 2-D
products (`blockedAttention`, memory ∝ N·block); `'fused'` — fused WebGL programs tiled over keys
(`fusedAttentionWebgl`). `'auto'` picks fused on webgl, blocked on cpu/wasm beyond `BLOCKED_THRESHOLD` tokens, else plain.
All three are differentiable and agree to 1e-4 relative.
 */
import { blockedAttention, describeValue, fusedAttentionWebgl, tf, type AttentionCoreInputs } from '@tide/backend';
import { ShapeError, checkField, featureGrid, type Field, type HasParameters, type VectorField } from '@tide/domain';
import {
  BLOCKED_THRESHOLD,
  attentionSizes,
  checkEvaluationOptions,
  type AttentionOptions,
  type AttentionParameters,
  type AttentionSizes,
} from './parameters.js';
import { integralAttentionAt } from './attention-at.js';
import { featureMap, mergeHeads, splitHeads } from './head-maps.js';
import { quadratureLogWeights, quadratureScoreBias } from './quadrature-bias.js';

/** Per-head Q, K, V, the log quadrature weights and the scale: the inputs of the attention core. */
function headMaps(u: Field, params: AttentionParameters, sizes: AttentionSizes, causal: boolean): AttentionCoreInputs {
  const x = u.values; // [B, N, d]
  const [b, n] = x.shape;
  return {
    q: splitHeads(featureMap(x, params.wq, params.bq), b, n, sizes.heads, sizes.keyWidth), // [B, H, N, d_k]
    k: splitHeads(featureMap(x, params.wk, params.bk), b, n, sizes.heads, sizes.keyWidth), // [B, H, N, d_k]
    v: splitHeads(featureMap(x, params.wv, params.bv), b, n, sizes.heads, sizes.valueWidth), // [B, H, N, d_v]
    logWeights: quadratureLogWeights(u), // [B|1, N]
    causal,
    scale: sizes.scale,
  };
}

/**
 * The evaluation path a call on the active backend takes for `tokens` tokens: the explicit
 * `options.implementation`, or for `'auto'`: fused on webgl, blocked on cpu and wasm beyond
 * {@link BLOCKED_THRESHOLD} tokens, else plain.
 */
export function attentionPath(options: AttentionOptions, tokens: number): 'plain' | 'blocked' | 'fused' {
  checkEvaluationOptions(options);
  if (!Number.isInteger(tokens) || tokens < 1) {
    throw new ShapeError('attentionPath: tokens', {
      expected: 'an integer ≥ 1 (the number of tokens N)',
      received: describeValue(tokens),
      fix: 'pass u.tokens',
    });
  }
  const impl = options.implementation ?? 'auto';
  if (impl !== 'auto') return impl;
  if (tf.getBackend() === 'webgl') return 'fused';
  return tokens > blockedThreshold() ? 'blocked' : 'plain';
}

/**
 * The token count above which `'auto'` leaves the plain path on `backend` (default: the active one):
 * {@link BLOCKED_THRESHOLD}`.wasm` on wasm, `.cpu` on every other non-webgl backend. On webgl `'auto'` is
 * always fused, and the cpu value is returned.
 */
export function blockedThreshold(backend: string = tf.getBackend()): number {
  if (typeof backend !== 'string' || backend === '') {
    throw new ShapeError('blockedThreshold: backend', {
      expected: "a backend name ('wasm', 'cpu', …)",
      received: describeValue(backend),
      fix: 'omit it for the active backend',
    });
  }
  return backend === 'wasm' ? BLOCKED_THRESHOLD.wasm : BLOCKED_THRESHOLD.cpu;
}

/** α = softmax(s + ln w (+ causal)): `[B, H, N, N]`, and the value maps `[B, H, N, d_v]`. */
function weightsAndValues(
  u: Field,
  params: AttentionParameters,
  sizes: AttentionSizes,
  causal: boolean,
): { alpha: tf.Tensor4D; v: tf.Tensor4D } {
  const { q, k, v } = headMaps(u, params, sizes, causal);
  const bias = quadratureScoreBias(u, causal); // [B|1, 1, N|1, N]
  const scores = tf.mul(tf.matMul(q, k, false, true), sizes.scale); // [B, H, N, N]
  const alpha = tf.softmax(tf.add(scores, bias)) as tf.Tensor4D; // [B, H, N, N], rows sum to 1
  return { alpha, v };
}

/**
 * Evaluates the integral attention operator A[u] on a field. Returns a new field `[B, N_x, d_out]` on the
 * same token grid (and feature grid when d_out = d); the input is kept. Exactly one tensor survives.
 */
export function integralAttention(u: Field, params: AttentionParameters, options: AttentionOptions = {}): Field {
  checkField('integralAttention', u);
  const sizes = attentionSizes(params, u.features, options);
  const values = tf.tidy(() => {
    const n = u.tokens;
    let context: tf.Tensor4D; // [B, H, N, d_v]: Σ_l α_kl V_l per head
    const path = attentionPath(options, n);
    if (path === 'blocked') {
      context = blockedAttention(headMaps(u, params, sizes, options.causal ?? false), options.block);
    } else if (path === 'fused') {
      context = fusedAttentionWebgl(headMaps(u, params, sizes, options.causal ?? false), options.block);
    } else {
      const { alpha, v } = weightsAndValues(u, params, sizes, options.causal ?? false);
      context = tf.matMul(alpha, v);
    }
    return mergeHeads(context, params, sizes); // [B, N, d_out]
  });
  return sizes.outputFeatures === u.features
    ? u.withValues(values)
    : u.onFeatureGrid(values, featureGrid(sizes.outputFeatures));
}

/**
 * The attention kernel γ_m(x_k, x_l) as a density on the token grid: `[B, H, N, N]`, normalised so that
 * `Σ_l w_l γ_m(x_k, x_l) = 1` (each row integrates to 1 over Ω_x). The discrete attention weights are
 * `α = w γ`. Zero-weight (padding) and out-of-causal-domain keys get γ = 0. The caller owns the result.
 */
export function attentionKernel(u: Field, params: AttentionParameters, options: AttentionOptions = {}): tf.Tensor4D {
  checkField('attentionKernel', u);
  const sizes = attentionSizes(params, u.features, options);
  return tf.tidy(() => {
    const { alpha } = weightsAndValues(u, params, sizes, options.causal ?? false);
    const w = tf.reshape(u.tokenWeightTensor(), [-1, 1, 1, u.tokens]); // [B|1, 1, 1, N]
    return tf.where(tf.greater(w, 0), tf.div(alpha, tf.maximum(w, 1e-38)), tf.zerosLike(alpha)) as tf.Tensor4D; // [B, H, N, N]
  });
}

/**
 * The discrete attention weights `α_m,kl = w_l γ_m(x_k, x_l)`: `[B, H, N, N]`, rows summing to 1. The caller
 * owns the result.
 */
export function attentionWeights(u: Field, params: AttentionParameters, options: AttentionOptions = {}): tf.Tensor4D {
  checkField('attentionWeights', u);
  const sizes = attentionSizes(params, u.features, options);
  return tf.tidy(() => weightsAndValues(u, params, sizes, options.causal ?? false).alpha);
}

/**
 * Head m's folded value map `W^V_m W^O_m`: `[H, d, d_out]` (the head integral's integrand, docs/integral-attention.md).
 * `A[u] = Σ_m α_m (u W^V_m W^O_m + b^V_m W^O_m) + b^O`. The caller owns the result.
 */
export function foldedValueMaps(params: AttentionParameters, options: AttentionOptions = {}): tf.Tensor3D {
  const sizes = attentionSizes(params, params.wv?.shape?.[0] ?? -1, options);
  return tf.tidy(() => {
    const wv = tf.transpose(tf.reshape(params.wv, [sizes.features, sizes.heads, sizes.valueWidth]), [1, 0, 2]); // [H, d, d_v]
    const wo = tf.reshape(params.wo, [sizes.heads, sizes.valueWidth, sizes.outputFeatures]); // [H, d_v, d_out]
    return tf.matMul(wv, wo) as tf.Tensor3D; // [H, d, d_out]
  });
}

/**
 * Integral attention as a {@link VectorField} of the operator contract: `evaluate(u, t) = A[u]` with fixed
 * controls (a piecewise-constant θ(t) uses one instance per piece). Holds references to the parameter
 * tensors; it does not own them.
 */
export class IntegralAttention implements VectorField, HasParameters {
  readonly kind = 'vector-field' as const;
  readonly label: string;
  readonly params: AttentionParameters;
  readonly options: AttentionOptions;

  constructor(params: AttentionParameters, options: AttentionOptions = {}, label = 'attention') {
    this.params = params;
    this.options = options;
    this.label = label;
  }

  evaluate(u: Field, _t: number): Field {
    return integralAttention(u, this.params, this.options);
  }

  /**
   * `A[u]` at the points of `at` (queries from `at`'s values, keys and values from u with u's quadrature):
   * `[B, M, d_out]` on `at`'s token grid. See {@link integralAttentionAt}.
   */
  evaluateAt(u: Field, at: Field, _t = 0): Field {
    return integralAttentionAt(u, at, this.params, this.options);
  }

  parameters(): readonly tf.Variable[] {
    return Object.values(this.params).filter((p): p is tf.Variable => p instanceof tf.Variable);
  }
}
