/**
 * LayerNorm as a projection (paper §3; docs/projections.md).
 *
 * The constraint set `S₁(σ₁, σ₂) = { u : mean_y u = σ₁, var_y u = σ₂² }` (per token) is a sphere in each
 * token's feature space. The nearest point of S₁ to v is
 *
 *     P(v) = σ₂ (v − α)/√β + σ₁       (α, β: mean and variance of v over Ω_y).
 *
 * Real checkpoints use `P^ε(v) = σ₂ (v − α)/√(β + ε) + σ₁` (docs/projections.md), followed by the affine sub-step
 * `γ(y)·u + β(y)`; with σ₁ = 0, σ₂ = 1 this is `nn.LayerNorm(eps)` exactly.
 *
 * **β = 0 (v constant over Ω_y).** S₁ is a sphere, not convex: every point of S₁ is then nearest, so the
 * projection is not unique. TIDE's answer:
 * - ε > 0 (checkpoints): `P^ε(v) = σ₁`, as every framework computes it (the point is not on S₁; ε is a
 *   regularisation, not a projection).
 * - ε = 0 (the exact projection): the point `σ₁ + σ₂ e` of S₁, with `e` the standardised ramp `y − ȳ`
 *   (zero mean, unit variance), so that the result is deterministic and on S₁. β counts as 0 when
 *   `β ≤ 1e-10·α² + 1e-30` (the float32 rounding of a constant row).
 *
 * Scale and shift invariance: `P(c v + s) = P(v)` for c > 0 and constant s (for P^ε, up to ε).
 */
import { standardizeRowsFused, tf } from '@tide/backend';
import { DomainError, checkField, type Field, type Projection } from '@tide/domain';
import { featureMoments, tieBreakDirection, tieBreakValues, uniformFeatures } from './feature-moments.js';
import { checkEpsilon, evaluateTarget, type TimeTarget } from './target.js';

/** Options of {@link layerNormConstraint}. */
export interface LayerNormConstraintOptions {
  /** σ₁(t), the target mean (default 0). */
  readonly mean?: TimeTarget;
  /** σ₂(t) > 0, the target standard deviation (default 1). */
  readonly std?: TimeTarget;
  /** ε ≥ 0 of real checkpoints (default 0: the exact projection). */
  readonly epsilon?: number;
}

/** The LayerNorm constraint set S₁(σ₁(t), σ₂(t)) with its projection. */
export class LayerNormConstraint implements Projection {
  readonly kind = 'projection' as const;
  readonly label: string;
  readonly mean: TimeTarget;
  readonly std: TimeTarget;
  readonly epsilon: number;

  constructor(options: LayerNormConstraintOptions = {}, label = 'layer-norm') {
    this.mean = options.mean ?? 0;
    this.std = options.std ?? 1;
    this.epsilon = checkEpsilon('layerNormConstraint', options.epsilon ?? 0);
    this.label = label;
    evaluateTarget('layerNormConstraint: mean σ₁', this.mean, 0);
    evaluateTarget('layerNormConstraint: std σ₂', this.std, 0, true);
  }

  /** `P^ε_{S₁(t)}(u)`: a new field on the same grids. */
  project(u: Field, t: number): Field {
    checkField('LayerNormConstraint.project', u);
    const s1 = evaluateTarget('layerNormConstraint: mean σ₁', this.mean, t);
    const s2 = evaluateTarget('layerNormConstraint: std σ₂', this.std, t, true);
    const eps = this.epsilon;
    if (eps === 0 && u.features < 2) {
      throw new DomainError('LayerNormConstraint.project', {
        expected: 'a feature grid of at least 2 points for the exact projection (ε = 0)',
        received: `${u.features} feature`,
        fix: 'with one feature S₁ (variance σ₂² > 0) is empty; use ε > 0 or more features',
      });
    }
    const values = tf.tidy(() => {
      // Uniform feature weights on wasm: one fused kernel each way (the same arithmetic as below).
      const fused = uniformFeatures(u)
        ? standardizeRowsFused(u.values, eps, eps > 0 ? undefined : tieBreakValues(u, true))
        : undefined;
      if (fused !== undefined) return (s2 === 1 && s1 === 0 ? fused : tf.add(tf.mul(fused, s2), s1)) as tf.Tensor3D;
      const { mean, variance, centred } = featureMoments(u); // [B, N_x, 1], [B, N_x, 1], [B, N_x, N_y]
      // σ₂ = 1, σ₁ = 0 (LayerNorm's set) skip two passes over [B, N_x, N_y]: the result is bit-identical.
      const shift = (x: tf.Tensor) => (s2 === 1 && s1 === 0 ? x : tf.add(tf.mul(x, s2), s1)) as tf.Tensor3D;
      if (eps > 0) return shift(tf.mul(centred, tf.rsqrt(tf.add(variance, eps)))); // [B, N_x, N_y]
      // Exact projection: the β = 0 branch uses an arithmetic mask (tfjs has no gradient for comparisons).
      const threshold = tf.add(tf.mul(tf.square(mean), 1e-10), 1e-30); // [B, N_x, 1]
      const degenerate = tf.step(tf.sub(threshold, variance)); // 1 where β < threshold (step(0) = 0)
      const regular = tf.mul(centred, tf.rsqrt(tf.maximum(variance, 1e-30))); // [B, N_x, N_y]
      const direction = tieBreakDirection(u, true); // [N_y]
      const unit = tf.add(tf.mul(tf.sub(1, degenerate), regular), tf.mul(degenerate, direction)); // zero mean, unit variance
      return shift(unit);
    });
    return u.withValues(values);
  }

  /**
   * The distance from each token's feature function to S₁(t) in L²(Ω_y) (exact set, ε ignored):
   * `dist = √(|Ω_y| ((α − σ₁)² + (√β − σ₂)²))`, `[B, N_x]`. The caller owns the result.
   */
  distance(u: Field, t: number): tf.Tensor2D {
    checkField('LayerNormConstraint.distance', u);
    const s1 = evaluateTarget('layerNormConstraint: mean σ₁', this.mean, t);
    const s2 = evaluateTarget('layerNormConstraint: std σ₂', this.std, t, true);
    const measure = u.featureGrid.weights.reduce((a, b) => a + b, 0);
    return tf.tidy(() => {
      const { mean, variance } = featureMoments(u);
      const d2 = tf.add(tf.square(tf.sub(mean, s1)), tf.square(tf.sub(tf.sqrt(variance), s2))); // [B, N_x, 1]
      return tf.squeeze(tf.sqrt(tf.mul(d2, measure)), [2]) as tf.Tensor2D; // [B, N_x]
    });
  }
}

/** The LayerNorm constraint set S₁(σ₁, σ₂) (defaults σ₁ = 0, σ₂ = 1, ε = 0). */
export function layerNormConstraint(options: LayerNormConstraintOptions = {}): LayerNormConstraint {
  return new LayerNormConstraint(options);
}
