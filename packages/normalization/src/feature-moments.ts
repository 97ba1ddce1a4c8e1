/**
 * Moments of a field over the feature domain, with the feature grid's quadrature:
 * `α(x) = (1/|Ω_y|) ∫ u(x, y) dy ≈ Σ_j h_j u_j / Σ_j h_j`, `β(x) = (1/|Ω_y|) ∫ (u − α)² dy`,
 * and the mean square `μ₂(x) = (1/|Ω_y|) ∫ u² dy`. On the unit grid these are LayerNorm's mean and
 * (biased) variance.
 */
import { tf } from '@tide/backend';
import type { Field } from '@tide/domain';

/** Normalised feature weights `h_j / Σ h` as a `[N_y]` tensor (caller owns it). */
export function featureMeasure(u: Field): tf.Tensor1D {
  const h = u.featureGrid.weights;
  const total = h.reduce((a, b) => a + b, 0);
  return tf.tensor1d(Float32Array.from(h, (w) => w / total));
}

/** Whether every feature weight is the same (then the quadrature mean is the plain mean: one pass, not two). */
export function uniformFeatures(u: Field): boolean {
  const h = u.featureGrid.weights;
  return h.every((w) => w === h[0]);
}

/** The quadrature mean over features `Σ_j h_j x_j / Σ h`, `[B, N_x, 1]`. Call inside tf.tidy. */
function featureMean(u: Field, x: tf.Tensor3D): tf.Tensor3D {
  if (uniformFeatures(u)) return tf.mean(x, -1, true) as tf.Tensor3D;
  return tf.sum(tf.mul(x, featureMeasure(u)), -1, true) as tf.Tensor3D;
}

/**
 * `{ mean α, variance β }`, each `[B, N_x, 1]`, and `centred = u − α` `[B, N_x, N_y]` (reused by the
 * projections). Call inside tf.tidy.
 */
export function featureMoments(u: Field): { mean: tf.Tensor3D; variance: tf.Tensor3D; centred: tf.Tensor3D } {
  const mean = featureMean(u, u.values); // [B, N_x, 1]
  const centred = tf.sub(u.values, mean) as tf.Tensor3D; // [B, N_x, N_y]
  const variance = featureMean(u, tf.square(centred) as tf.Tensor3D); // [B, N_x, 1]
  return { mean, variance, centred };
}

/** `μ₂ = mean_y u²`, `[B, N_x, 1]`. Call inside tf.tidy. */
export function featureMeanSquare(u: Field): tf.Tensor3D {
  return featureMean(u, tf.square(u.values) as tf.Tensor3D);
}

/**
 * A fixed direction on the feature grid with zero mean and unit mean square (the standardised ramp
 * `y − ȳ`): where a projection is not unique, TIDE returns the point of the set along this direction.
 * `[N_y]` values; needs N_y ≥ 2.
 */
export function tieBreakValues(u: Field, centred: boolean): Float32Array {
  const y = u.featureGrid.points;
  const h = u.featureGrid.weights;
  const total = h.reduce((a, b) => a + b, 0);
  const ybar = centred ? y.reduce((a, v, j) => a + v * h[j]!, 0) / total : 0;
  const ramp = Array.from(y, (v) => v - ybar + (centred ? 0 : 1));
  const ms = ramp.reduce((a, v, j) => a + v * v * h[j]!, 0) / total;
  return Float32Array.from(ramp, (v) => v / Math.sqrt(ms));
}

/** {@link tieBreakValues} as a `[N_y]` tensor (caller owns it). */
export function tieBreakDirection(u: Field, centred: boolean): tf.Tensor1D {
  return tf.tensor1d(tieBreakValues(u, centred));
}
