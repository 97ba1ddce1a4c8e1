/**
 * Time-dependent targets of the normalisation constraint (paper §3): σ₁(t) (mean) and σ₂(t) (standard
 * deviation or radius). A trained network gives piecewise-constant targets; any function of t is allowed.
 */
import { describeValue } from '@tide/backend';
import { DomainError } from '@tide/domain';

/** A constant, or a function of time. */
export type TimeTarget = number | ((t: number) => number);

/** Evaluates a target at t; throws a {@link DomainError} unless the value is finite (and > 0 when `positive`). */
export function evaluateTarget(subject: string, target: TimeTarget, t: number, positive = false): number {
  const value = typeof target === 'function' ? target(t) : target;
  if (typeof value !== 'number' || !Number.isFinite(value) || (positive && !(value > 0))) {
    throw new DomainError(subject, {
      expected: positive ? 'a finite number > 0' : 'a finite number',
      received: `${describeValue(value)}${typeof target === 'function' ? ` at t = ${t}` : ''}`,
      fix: positive ? 'a standard deviation or radius must be positive' : 'give a finite target',
    });
  }
  return value;
}

/** Throws unless ε is a finite number ≥ 0. */
export function checkEpsilon(subject: string, epsilon: unknown): number {
  if (typeof epsilon !== 'number' || !Number.isFinite(epsilon) || epsilon < 0) {
    throw new DomainError(`${subject}: epsilon`, {
      expected: 'a finite number ≥ 0',
      received: describeValue(epsilon),
      fix: "use the checkpoint's layer_norm_eps (e.g. 1e-5), or 0 for the exact projection",
    });
  }
  return epsilon;
}
