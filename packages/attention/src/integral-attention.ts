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
and what the inspection functions return; `'blocked'` — query blocks for every sample and head at once
(`blockedAttention`, memory ∝ B·H·N·block); `'fused'` — fused WebGL programs tiled over keys
(`fusedAttentionWebgl`). `'auto'` picks fused on webgl, blocked on cpu/wasm beyond `BLOCKED_THRESHOLD` tokens, else plain.
All three are differentiable and agree to 1e-4 relative.

Incremental causal solves (`incrementalAttention`, or `IntegralAttention` with `{ cache }`): the rows of the
new tokens only, against the keys and values a {@link KeyValueCache} holds for the earlier tokens
(docs/integral-attention.md, "Incremental causal solves").
 */
import {
  MASKED_SCORE,
  blockedAttention,
  describeValue,
  fusedAttentionWebgl,
  tf,
  type AttentionCoreInputs,
} from '@tide/backend';
import {
  DomainError,
  ShapeError,
  checkField,
  featureGrid,
  type Field,
  type HasParameters,
  type VectorField,
} from '@tide/domain';
import { KeyValueCache } from './key-value-cache.js';
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

/** Per-head Q, K, V of the tokens of `u`. */
function queriesKeysValues(
  u: Field,
  params: AttentionParameters,
  sizes: AttentionSizes,
): Pick<AttentionCoreInputs, 'q' | 'k' | 'v'> {
  const x = u.values; // [B, N, d]
  const [b, n] = x.shape;
  return {
    q: splitHeads(featureMap(x, params.wq, params.bq), b, n, sizes.heads, sizes.keyWidth), // [B, H, N, d_k]
    k: splitHeads(featureMap(x, params.wk, params.bk), b, n, sizes.heads, sizes.keyWidth), // [B, H, N, d_k]
    v: splitHeads(featureMap(x, params.wv, params.bv), b, n, sizes.heads, sizes.valueWidth), // [B, H, N, d_v]
  };
}

/** Per-head Q, K, V, the log quadrature weights and the scale: the inputs of the blocked and fused cores. */
function headMaps(u: Field, params: AttentionParameters, sizes: AttentionSizes, causal: boolean): AttentionCoreInputs {
  return {
    ...queriesKeysValues(u, params, sizes),
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

/** The context `Σ_l α_kl V_l` `[B, H, N, d_v]` of an attention core on the blocked or fused path. */
function coreOnPath(path: 'blocked' | 'fused', core: AttentionCoreInputs, options: AttentionOptions): tf.Tensor4D {
  return path === 'blocked' ? blockedAttention(core, options.block) : fusedAttentionWebgl(core, options.block);
}

/** α = softmax(s + ln w (+ causal)): `[B, H, N, N]`, and the value maps `[B, H, N, d_v]`. */
function weightsAndValues(
  u: Field,
  params: AttentionParameters,
  sizes: AttentionSizes,
  causal: boolean,
): { alpha: tf.Tensor4D; v: tf.Tensor4D } {
  const { q, k, v } = queriesKeysValues(u, params, sizes); // the bias below carries ln w
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
    if (path === 'plain') {
      const { alpha, v } = weightsAndValues(u, params, sizes, options.causal ?? false);
      context = tf.matMul(alpha, v);
    } else {
      context = coreOnPath(path, headMaps(u, params, sizes, options.causal ?? false), options);
    }
    return mergeHeads(context, params, sizes); // [B, N, d_out]
  });
  return sizes.outputFeatures === u.features
    ? u.withValues(values)
    : u.onFeatureGrid(values, featureGrid(sizes.outputFeatures));
}

/** Refuses a field or options an incremental evaluation with `cache` cannot take (see {@link incrementalAttention}). */
function checkIncremental(u: Field, cache: KeyValueCache, options: AttentionOptions): void {
  if (!(cache instanceof KeyValueCache)) {
    throw new ShapeError('incrementalAttention: cache', {
      expected: 'a KeyValueCache',
      received: describeValue(cache),
      fix: 'pass new KeyValueCache() (and reset/commit it around each solve)',
    });
  }
  refuseNonCausal(cache, options);
  const grid = u.tokenGrid;
  const past = cache.tokens;
  if (u.tokenWeights !== undefined) {
    throw new DomainError(`${cache.label}: token weights`, {
      expected: 'no per-sample token weights (the standard token grid, every weight 1)',
      received: 'a field with per-sample token weights (padding)',
      fix: 'append unpadded tokens; padded batches need a full solve with their weights',
    });
  }
  const off = (p: number, expected: number) => Math.abs(p - expected) > 1e-9 * Math.max(1, Math.abs(expected));
  let bad = grid.dimension !== 1 ? 'a 2-D token grid' : '';
  for (let l = 0; bad === '' && l < grid.size; l++) {
    if (grid.weights[l] !== 1) bad = `weight ${grid.weights[l]} at token ${l}`;
    else if (off(grid.points[l]!, past + l + 0.5)) bad = `point ${grid.points[l]} at token ${l}`;
  }
  if (bad !== '') {
    throw new DomainError(`${cache.label}: token grid`, {
      expected: `the standard token grid continued after the ${past} cached token(s): points ${past} + l + ½, weights 1`,
      received: bad,
      fix: 'put the new tokens on cache.nextTokenGrid(n); resampled or weighted grids need a full solve',
    });
  }
}

/**
 * `A[u]` for tokens appended to a causal sequence whose earlier tokens' keys and values `cache` holds: `u` is
 * `[B, n, d]`, the states of the n new tokens at positions N_past … N_past + n − 1 (on `cache.nextTokenGrid(n)`).
 * The new tokens' queries attend to the cached keys and their own, new token i to the keys at positions
 * ≤ N_past + i (the causal sub-domain on absolute positions); their keys and values are staged in the slot the
 * evaluation takes. Returns `[B, n, d_out]` on u's grids, exactly the rows of the new tokens in
 * `integralAttention` of the whole sequence (standard grid, unit weights).
 *
 * Within a pass of `cache` (`cache.reset()` … `cache.commit()`; `forward` of `@tide/transformer` with `{ cache }`
 * opens and closes it). With no past tokens it takes the path `options.implementation` selects; with a past,
 * the plain path on `[B, H, n, N_past + n]` scores (one query row per new token). Differentiable with respect
 * to u and the parameters; the cached keys and values are constants.
 *
 * @throws DomainError for a non-causal operator, per-sample token weights (padding) or a token grid that does
 * not continue the cached one (non-unit weights, resampled points)
 * @throws ShapeError for a batch, head count or width other than the cached ones, or a cache outside a pass
 */
export function incrementalAttention(
  u: Field,
  params: AttentionParameters,
  cache: KeyValueCache,
  options: AttentionOptions = {},
): Field {
  checkField('incrementalAttention', u);
  checkEvaluationOptions(options);
  checkIncremental(u, cache, options);
  const sizes = attentionSizes(params, u.features, options);
  const [b, n] = u.values.shape;
  const claim = cache.claim({
    batch: b,
    heads: sizes.heads,
    keyWidth: sizes.keyWidth,
    valueWidth: sizes.valueWidth,
    tokens: n,
  });
  const values = tf.tidy(() => {
    const core = queriesKeysValues(u, params, sizes); // q, k, v of the new tokens: [B, H, n, ·]
    let context: tf.Tensor4D; // [B, H, n, d_v]
    let keys = core.k;
    let vals = core.v;
    if (claim.keys === undefined || claim.values === undefined) {
      const path = attentionPath(options, n);
      context =
        path === 'plain'
          ? tf.matMul(
              tf.softmax(tf.add(tf.mul(tf.matMul(core.q, core.k, false, true), sizes.scale), causalRows(0, n))),
              core.v,
            )
          : coreOnPath(
              path,
              { ...core, logWeights: quadratureLogWeights(u), causal: true, scale: sizes.scale },
              options,
            );
    } else {
      keys = tf.concat([claim.keys, core.k], 2) as tf.Tensor4D; // [B, H, N_past + n, d_k]
      vals = tf.concat([claim.values, core.v], 2) as tf.Tensor4D; // [B, H, N_past + n, d_v]
      const scores = tf.mul(tf.matMul(core.q, keys, false, true), sizes.scale); // [B, H, n, N_past + n]
      const alpha = tf.softmax(n === 1 ? scores : tf.add(scores, causalRows(claim.pastTokens, n))); // rows sum to 1
      context = tf.matMul(alpha, vals) as tf.Tensor4D;
    }
    cache.stage(claim.slot, keys, vals);
    return mergeHeads(context, params, sizes); // [B, n, d_out]
  });
  return sizes.outputFeatures === u.features
    ? u.withValues(values)
    : u.onFeatureGrid(values, featureGrid(sizes.outputFeatures));
}

/**
 * `[1, 1, n, past + n]`: 0 where key l is in the causal sub-domain of new token i (l ≤ past + i), else
 * MASKED_SCORE. The unit weights' `ln w = 0` needs no term.
 */
function causalRows(past: number, n: number): tf.Tensor4D {
  const width = past + n;
  const bias = new Float32Array(n * width);
  for (let i = 0; i < n; i++) bias.fill(MASKED_SCORE, i * width + past + i + 1, (i + 1) * width);
  return tf.tensor4d(bias, [1, 1, n, width]);
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

/** Options of {@link IntegralAttention}: the evaluation options, and a key/value cache for incremental solves. */
export interface IntegralAttentionOptions extends AttentionOptions {
  /**
   * Evaluate incrementally through this cache ({@link incrementalAttention}): `evaluate(u)` takes the new
   * tokens' states, attends to the cached keys and its own, and stages its keys and values. Needs `causal`.
   */
  readonly cache?: KeyValueCache;
}

/**
 * Integral attention as a {@link VectorField} of the operator contract: `evaluate(u, t) = A[u]` with fixed
 * controls (a piecewise-constant θ(t) uses one instance per piece). Holds references to the parameter
 * tensors; it does not own them. With `options.cache`, each evaluation is incremental (one slot of the cache).
 */
export class IntegralAttention implements VectorField, HasParameters {
  readonly kind = 'vector-field' as const;
  readonly label: string;
  readonly params: AttentionParameters;
  readonly options: AttentionOptions;
  /** The key/value cache evaluations go through, if any (not owned). */
  readonly cache: KeyValueCache | undefined;

  /**
   * @throws DomainError for a cache with a non-causal operator (see {@link incrementalAttention})
   */
  constructor(params: AttentionParameters, options: IntegralAttentionOptions = {}, label = 'attention') {
    const { cache, ...evaluation } = options ?? {};
    if (cache !== undefined) checkCacheOptions(cache, evaluation);
    this.params = params;
    this.options = evaluation;
    this.cache = cache;
    this.label = label;
  }

  evaluate(u: Field, _t: number): Field {
    return this.cache === undefined
      ? integralAttention(u, this.params, this.options)
      : incrementalAttention(u, this.params, this.cache, this.options);
  }

  /**
   * `A[u]` at the points of `at` (queries from `at`'s values, keys and values from u with u's quadrature):
   * `[B, M, d_out]` on `at`'s token grid. See {@link integralAttentionAt}. Not with a cache.
   */
  evaluateAt(u: Field, at: Field, _t = 0): Field {
    if (this.cache !== undefined) {
      throw new ShapeError(`${this.label}: evaluateAt`, {
        expected: 'an operator without a key/value cache',
        received: `one with ${this.cache.label}`,
        fix: 'evaluate at other points with an IntegralAttention built without { cache }',
      });
    }
    return integralAttentionAt(u, at, this.params, this.options);
  }

  parameters(): readonly tf.Variable[] {
    return Object.values(this.params).filter((p): p is tf.Variable => p instanceof tf.Variable);
  }
}

/** The constructor's early check of a cache: a KeyValueCache with a causal operator. */
function checkCacheOptions(cache: KeyValueCache, options: AttentionOptions): void {
  if (!(cache instanceof KeyValueCache)) {
    throw new ShapeError('IntegralAttention: cache', {
      expected: 'a KeyValueCache',
      received: describeValue(cache),
      fix: 'pass new KeyValueCache() or leave cache out',
    });
  }
  refuseNonCausal(cache, options);
}

/** A cache needs the causal sub-domain: the message says why. */
function refuseNonCausal(cache: KeyValueCache, options: AttentionOptions): void {
  if (options.causal === true) return;
  throw new DomainError(`${cache.label}: causal`, {
    expected: 'a causal attention operator (causal: true) with a key/value cache',
    received: `causal: ${describeValue(options.causal)}`,
    fix:
      'a cache holds the keys and values of tokens solved earlier, which stay valid only when no token sees a ' +
      'later one: without the causal sub-domain the integral of every earlier token runs over the new tokens ' +
      'too, so its state, and the keys and values later layers compute from it, change on every append; ' +
      're-solve the whole sequence instead',
  });
}
