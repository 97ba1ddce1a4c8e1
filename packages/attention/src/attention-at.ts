/**
 * Integral attention evaluated at arbitrary points (paper §3; docs/integral-attention.md). The operator
 * `A[u](x, y)` is a function of x on all of Ω_x, not only on u's grid:
 *
 *     A[u](x_k, ·) = Σ_m Σ_l α_m,kl V_m(x̃_l, ·) + b^O,   α_m,kl = softmax_l(s_m(x_k, x̃_l) + ln w_l),
 *     s_m(x_k, x̃_l) = ⟨Q_m(x_k, ·), K_m(x̃_l, ·)⟩ · scale,
 *
 * for M query points x_k (the token grid of a field `at`, whose values give `Q = at W^Q + b^Q`) and the N
 * keys x̃_l of u's grid with u's quadrature weights w_l (K and V from u). On u's own grid it is
 * `integralAttention(u)`; it equals evaluating on the union of both grids with weight 0 at the query
 * points, without building that grid.
 */
import { tf, describeValue, formatShape } from '@tide/backend';
import { DomainError, Field, ShapeError, checkField, featureGrid } from '@tide/domain';
import { featureMap, mergeHeads, splitHeads } from './head-maps.js';
import { attentionSizes, type AttentionOptions, type AttentionParameters } from './parameters.js';
import { MASKED_SCORE, quadratureLogWeights } from './quadrature-bias.js';

/** `[M, N]` row-major, 1 where the key point x̃_l ≤ the query point x_k (1-D grids), else 0. */
function causalMask(at: Field, u: Field): Float32Array {
  const q = at.tokenGrid.points;
  const k = u.tokenGrid.points;
  const mask = new Float32Array(q.length * k.length);
  for (let a = 0; a < q.length; a++) for (let l = 0; l < k.length && k[l]! <= q[a]!; l++) mask[a * k.length + l] = 1;
  return mask;
}

function checkQueryField(u: Field, at: Field, causal: boolean): void {
  if (!(at instanceof Field)) {
    throw new ShapeError('integralAttentionAt: at', {
      expected: 'a Field (the query values [B, M, d] with their token grid)',
      received: describeValue(at),
      fix: 'wrap the query values with field(values, { tokenGrid }) from @tide/domain',
    });
  }
  if (at.batch !== u.batch || at.features !== u.features) {
    throw new ShapeError('integralAttentionAt: at', {
      expected: `a query field of the same batch and feature count as u ([${u.batch}, M, ${u.features}])`,
      received: `at ${formatShape(at.values.shape)}, u ${formatShape(u.values.shape)}`,
      fix: 'give `at` the values of the state at the query points, one sample per sample of u',
    });
  }
  if (causal && (at.tokenGrid.dimension !== 1 || u.tokenGrid.dimension !== 1)) {
    throw new DomainError('integralAttentionAt: causal', {
      expected: '1-D token grids (the causal sub-domain x̃ ≤ x compares coordinates)',
      received: `a ${at.tokenGrid.dimension}-D query grid and a ${u.tokenGrid.dimension}-D key grid`,
      fix: 'evaluate a causal operator at points of an interval, or drop causal on a product grid',
    });
  }
}

/**
 * `A[u]` at the points of `at`: `[B, M, d_out]` on `at`'s token grid (and its feature grid when d_out = d).
 * Queries come from `at`'s values, keys and values from u on u's grid with u's quadrature (and per-sample)
 * weights. With `causal`, query x_k sees the keys x̃_l ≤ x_k (1-D grids only); a query with no key in its
 * causal sub-domain gets a finite but meaningless value, as in `integralAttention`.
 *
 * Shapes: `u: [B, N, d]`, `at: [B, M, d]`, parameters as in `AttentionParameters`; the result is new (one
 * surviving tensor), the inputs are kept. Always the plain path (an `[B, H, M, N]` kernel); `implementation`
 * and `block` do not apply. Differentiable with respect to u, `at` and the parameters.
 *
 * @throws ShapeError when `at` is not a Field of u's batch and feature count, or the parameters do not fit
 * @throws DomainError for `causal` on a 2-D token grid
 */
export function integralAttentionAt(
  u: Field,
  at: Field,
  params: AttentionParameters,
  options: AttentionOptions = {},
): Field {
  checkField('integralAttentionAt', u);
  const causal = options.causal ?? false;
  if (typeof causal !== 'boolean') {
    throw new ShapeError('integralAttentionAt: causal', {
      expected: 'a boolean',
      received: describeValue(causal),
      fix: 'pass true for a causal operator, else omit it',
    });
  }
  checkQueryField(u, at, causal);
  const sizes = attentionSizes(params, u.features, options);
  const values = tf.tidy(() => {
    const [b, m] = at.values.shape;
    const n = u.tokens;
    const q = splitHeads(featureMap(at.values, params.wq, params.bq), b, m, sizes.heads, sizes.keyWidth); // [B, H, M, d_k]
    const k = splitHeads(featureMap(u.values, params.wk, params.bk), b, n, sizes.heads, sizes.keyWidth); // [B, H, N, d_k]
    const v = splitHeads(featureMap(u.values, params.wv, params.bv), b, n, sizes.heads, sizes.valueWidth); // [B, H, N, d_v]
    const logWeights = quadratureLogWeights(u); // [B|1, N]
    let bias: tf.Tensor = tf.reshape(logWeights, [logWeights.shape[0], 1, 1, n]); // [B|1, 1, 1, N]
    if (causal) {
      const mask = tf.tensor2d(causalMask(at, u), [m, n]); // [M, N]
      bias = tf.add(bias, tf.reshape(tf.mul(tf.sub(1, mask), MASKED_SCORE), [1, 1, m, n])); // [B|1, 1, M, N]
    }
    const scores = tf.mul(tf.matMul(q, k, false, true), sizes.scale); // [B, H, M, N]
    const alpha = tf.softmax(tf.add(scores, bias)); // [B, H, M, N], rows sum to 1
    const context = tf.matMul(alpha, v) as tf.Tensor4D; // [B, H, M, d_v]
    return mergeHeads(context, params, sizes); // [B, M, d_out]
  });
  return sizes.outputFeatures === at.features
    ? at.withValues(values)
    : at.onFeatureGrid(values, featureGrid(sizes.outputFeatures));
}
