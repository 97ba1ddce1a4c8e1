/**
 * RMSNorm as a projection: the sphere `S_rms(σ₂) = { u : mean_y u² = σ₂² }` without a mean constraint.
 * Nearest point `P(v) = σ₂ v / √μ₂(v)` (μ₂: mean square over Ω_y); checkpoints use `σ₂ v/√(μ₂ + ε)`.
 *
 * At v = 0 every point of the sphere is nearest; with ε > 0 the result is 0, with ε = 0 TIDE returns
 * `σ₂ e` for the fixed direction `e` (the positive ramp scaled to unit mean square). v counts as 0 when
 * `μ₂ ≤ 1e-30`.
 */
import { tf } from '@tide/backend';
import { checkField, type Field, type Projection } from '@tide/domain';
import { featureMeanSquare, tieBreakDirection } from './feature-moments.js';
import { checkEpsilon, evaluateTarget, type TimeTarget } from './target.js';

/** Options of {@link rmsSphereConstraint}. */
export interface RmsSphereConstraintOptions {
  /** σ₂(t) > 0, the radius (root mean square) (default 1). */
  readonly radius?: TimeTarget;
  /** ε ≥ 0 of real checkpoints (default 0: the exact projection). */
  readonly epsilon?: number;
}

/** The RMS sphere with its projection. */
export class RmsSphereConstraint implements Projection {
  readonly kind = 'projection' as const;
  readonly label: string;
  readonly radius: TimeTarget;
  readonly epsilon: number;

  constructor(options: RmsSphereConstraintOptions = {}, label = 'rms-norm') {
    this.radius = options.radius ?? 1;
    this.epsilon = checkEpsilon('rmsSphereConstraint', options.epsilon ?? 0);
    this.label = label;
    evaluateTarget('rmsSphereConstraint: radius σ₂', this.radius, 0, true);
  }

  project(u: Field, t: number): Field {
    checkField('RmsSphereConstraint.project', u);
    const r = evaluateTarget('rmsSphereConstraint: radius σ₂', this.radius, t, true);
    const eps = this.epsilon;
    const values = tf.tidy(() => {
      const ms = featureMeanSquare(u); // [B, N_x, 1]
      if (eps > 0) return tf.mul(tf.mul(u.values, tf.rsqrt(tf.add(ms, eps))), r) as tf.Tensor3D;
      const degenerate = tf.step(tf.sub(1e-30, ms)); // 1 where v = 0
      const regular = tf.mul(u.values, tf.rsqrt(tf.maximum(ms, 1e-30)));
      const unit = tf.add(tf.mul(tf.sub(1, degenerate), regular), tf.mul(degenerate, tieBreakDirection(u, false)));
      return tf.mul(unit, r) as tf.Tensor3D;
    });
    return u.withValues(values);
  }

  /** L²(Ω_y) distance to the sphere: `√|Ω_y| · |√μ₂ − σ₂|`, `[B, N_x]`. The caller owns the result. */
  distance(u: Field, t: number): tf.Tensor2D {
    checkField('RmsSphereConstraint.distance', u);
    const r = evaluateTarget('rmsSphereConstraint: radius σ₂', this.radius, t, true);
    const measure = u.featureGrid.weights.reduce((a, b) => a + b, 0);
    return tf.tidy(
      () =>
        tf.squeeze(tf.mul(tf.abs(tf.sub(tf.sqrt(featureMeanSquare(u)), r)), Math.sqrt(measure)), [2]) as tf.Tensor2D,
    );
  }
}

/** The RMS sphere (defaults σ₂ = 1, ε = 0). */
export function rmsSphereConstraint(options: RmsSphereConstraintOptions = {}): RmsSphereConstraint {
  return new RmsSphereConstraint(options);
}
