/**
 * The distance of a field to a constraint set, per token: `dist(u(x, ·), S(t))` in L²(Ω_y), `[B, N_x]`.
 * Used by tests and diagnostics (how far each sub-step leaves the state from the constraint set).
 */
import type { tf } from '@tide/backend';
import type { Field } from '@tide/domain';

/** A constraint set that can measure distances to itself. */
export interface MeasurableConstraint {
  distance(u: Field, t: number): tf.Tensor2D;
}

/** `[B, N_x]` distances of each token to `constraint` at time t. The caller owns the result. */
export function distanceToConstraint(u: Field, constraint: MeasurableConstraint, t = 0): tf.Tensor2D {
  return constraint.distance(u, t);
}
