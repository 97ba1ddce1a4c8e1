/**
 * Integral attention with its own query, key and value maps: keys on their own grid (paper §6, the CvT as a
 * special case; docs/integral-attention.md, "Keys on their own grid", docs/convolutional-kernels.md).
 *
 *     Q = 𝒬[u] W^Q + b^Q,   K = 𝒦[u] W^K + b^K,   V = 𝒱[u] W^V + b^V,
 *     A[u](x) = Σ_m ∫_{Ω_x} γ_m(x, x̃) V_m(x̃) dx̃   with the x̃-integral on the grid of 𝒦[u] (= the grid of 𝒱[u]),
 *
 * where 𝒬, 𝒦, 𝒱 are maps of fields (a local integral operator such as CvT's depthwise convolution with
 * BatchNorm, or the identity). 𝒬 keeps u's token grid (the output lives there); 𝒦 and 𝒱 may put the keys and
 * values on another grid of the same domain — CvT's strided key/value convolutions put them on a coarser
 * midpoint grid, so the key integral is a coarser quadrature of the same Ω_x. The discrete kernel is
 * `α_kl = softmax_l(s_kl + ln w_l)` with the key grid's weights w_l. Evaluated on the plain path (the N×M kernel).
 */
import { describeValue, tf } from '@tide/backend';
import {
  DomainError,
  ShapeError,
  checkField,
  featureGrid,
  type Field,
  type HasParameters,
  type TokenMap,
  type VectorField,
} from '@tide/domain';
import { featureMap, mergeHeads, splitHeads } from './head-maps.js';
import { attentionSizes, type AttentionOptions, type AttentionParameters } from './parameters.js';
import { quadratureLogWeights } from './quadrature-bias.js';

/** The maps 𝒬, 𝒦, 𝒱 applied before the feature transforms; an absent map is the identity. */
export interface AttentionMaps {
  readonly query?: TokenMap;
  readonly key?: TokenMap;
  readonly value?: TokenMap;
}

function checkMaps(what: string, maps: AttentionMaps, options: AttentionOptions): void {
  if (typeof maps !== 'object' || maps === null)
    throw new ShapeError(`${what}: maps`, {
      expected: '{ query?, key?, value? }: functions from a field to a field',
      received: describeValue(maps),
      fix: 'pass {} for plain integral attention, or maps built e.g. with convolutionalMap (@tide/feedforward)',
    });
  for (const name of ['query', 'key', 'value'] as const) {
    const m = maps[name];
    if (m !== undefined && typeof m !== 'function')
      throw new ShapeError(`${what}: maps.${name}`, {
        expected: 'a function (u: Field) => Field, or undefined for the identity',
        received: describeValue(m),
        fix: 'pass a TokenMap',
      });
  }
  if (options?.causal === true)
    throw new DomainError(`${what}: causal`, {
      expected: 'non-causal attention when keys live on their own grid',
      received: 'causal: true',
      fix: 'the causal sub-domain is defined on one grid: use integralAttention for causal models',
    });
}

/** Applies a map and checks what it returns. */
function mapped(what: string, name: string, map: TokenMap | undefined, u: Field): Field {
  if (map === undefined) return u;
  const out = map(u);
  try {
    checkField(`${what}: maps.${name}(u)`, out);
  } catch (e) {
    throw new ShapeError(`${what}: maps.${name}(u)`, {
      expected: 'a Field',
      received: describeValue(out),
      fix: `make maps.${name} return a Field (${e instanceof Error ? e.message : String(e)})`,
    });
  }
  if (out.batch !== u.batch)
    throw new ShapeError(`${what}: maps.${name}(u)`, {
      expected: `a batch of ${u.batch}`,
      received: `${out.batch}`,
      fix: 'a token map acts per sample',
    });
  return out;
}

/** α `[B, H, N, M]` and the value maps `[B, H, M, d_v]`. Call inside `tf.tidy`. */
function mappedWeightsAndValues(
  what: string,
  u: Field,
  params: AttentionParameters,
  maps: AttentionMaps,
  options: AttentionOptions,
): { alpha: tf.Tensor4D; v: tf.Tensor4D; keys: Field } {
  checkField(what, u);
  checkMaps(what, maps, options);
  const sizes = attentionSizes(params, u.features, options);
  const q = mapped(what, 'query', maps.query, u);
  const k = mapped(what, 'key', maps.key, u);
  const v = mapped(what, 'value', maps.value, u);
  if (q.tokens !== u.tokens)
    throw new ShapeError(`${what}: maps.query(u)`, {
      expected: `the ${u.tokens} tokens of u (the output lives on u's grid)`,
      received: `${q.tokens} tokens`,
      fix: 'use a query map that keeps the token grid (stride 1)',
    });
  if (k.tokens !== v.tokens)
    throw new ShapeError(`${what}: maps.key(u) and maps.value(u)`, {
      expected: 'keys and values on the same grid',
      received: `${k.tokens} keys and ${v.tokens} values`,
      fix: 'give the key and value maps the same stride and padding',
    });
  for (const [name, f] of [
    ['query', q],
    ['key', k],
    ['value', v],
  ] as const) {
    if (f.features !== sizes.features)
      throw new ShapeError(`${what}: maps.${name}(u)`, {
        expected: `${sizes.features} features (the kernels' input width)`,
        received: `${f.features}`,
        fix: 'the maps act on tokens; keep the feature width',
      });
  }
  const [b, n, m] = [u.batch, u.tokens, k.tokens];
  const qh = splitHeads(featureMap(q.values, params.wq, params.bq), b, n, sizes.heads, sizes.keyWidth); // [B, H, N, d_k]
  const kh = splitHeads(featureMap(k.values, params.wk, params.bk), b, m, sizes.heads, sizes.keyWidth); // [B, H, M, d_k]
  const vh = splitHeads(featureMap(v.values, params.wv, params.bv), b, m, sizes.heads, sizes.valueWidth); // [B, H, M, d_v]
  const bias = tf.reshape(quadratureLogWeights(k), [-1, 1, 1, m]); // [B|1, 1, 1, M]: ln w_l of the key grid
  const scores = tf.mul(tf.matMul(qh, kh, false, true), sizes.scale); // [B, H, N, M]
  const alpha = tf.softmax(tf.add(scores, bias)) as tf.Tensor4D; // [B, H, N, M], rows sum to 1
  return { alpha, v: vh, keys: k };
}

/**
 * `A[u]` with query/key/value maps (see the module comment): a new field `[B, N, d_out]` on u's token grid.
 * Exactly one tensor survives; the maps' intermediate fields are freed.
 *
 * @throws ShapeError for bad maps or maps whose fields do not fit (query grid ≠ u's, keys ≠ values, widths)
 * @throws DomainError for `causal: true`
 */
export function mappedAttention(
  u: Field,
  params: AttentionParameters,
  maps: AttentionMaps,
  options: AttentionOptions = {},
): Field {
  const what = 'mappedAttention';
  checkField(what, u);
  const sizes = attentionSizes(params, u.features, options);
  const values = tf.tidy(() => {
    const { alpha, v } = mappedWeightsAndValues(what, u, params, maps, options);
    return mergeHeads(tf.matMul(alpha, v), params, sizes); // [B, N, d_out]
  });
  return sizes.outputFeatures === u.features
    ? u.withValues(values)
    : u.onFeatureGrid(values, featureGrid(sizes.outputFeatures));
}

/**
 * The discrete attention weights `α_m,kl = w_l γ_m(x_k, x̃_l)` from u's tokens to the keys' grid: `[B, H, N, M]`,
 * rows summing to 1. The caller owns the result.
 */
export function mappedAttentionWeights(
  u: Field,
  params: AttentionParameters,
  maps: AttentionMaps,
  options: AttentionOptions = {},
): tf.Tensor4D {
  return tf.tidy(() => mappedWeightsAndValues('mappedAttentionWeights', u, params, maps, options).alpha);
}

/**
 * {@link mappedAttention} as a {@link VectorField} of the operator contract (fixed controls). Holds references
 * to the parameter tensors and the maps; owns nothing.
 */
export class MappedAttention implements VectorField, HasParameters {
  readonly kind = 'vector-field' as const;

  constructor(
    readonly params: AttentionParameters,
    readonly maps: AttentionMaps,
    readonly options: AttentionOptions = {},
    readonly label = 'attention',
  ) {
    checkMaps(label, maps, options);
  }

  evaluate(u: Field, _t: number): Field {
    return mappedAttention(u, this.params, this.maps, this.options);
  }

  parameters(): readonly tf.Variable[] {
    return Object.values(this.params).filter((p): p is tf.Variable => p instanceof tf.Variable);
  }
}
