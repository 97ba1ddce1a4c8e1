/**
 * Domains of the continuous model (paper §2): the token domain Ω_x (an interval, or a rectangle for
 * image-like token grids) and the feature domain Ω_y (an interval).
 */
import { describeValue } from '@tide/backend';
import { DomainError } from './errors.js';

/** A closed interval [lower, upper] with lower < upper. */
export interface Interval {
  readonly kind: 'interval';
  readonly lower: number;
  readonly upper: number;
  /** |Ω| = upper − lower. */
  readonly length: number;
}

/** The product Ω = [a₁, b₁] × [a₂, b₂] (image-like token domains). */
export interface Rectangle {
  readonly kind: 'rectangle';
  readonly x: Interval;
  readonly y: Interval;
  /** |Ω| = |x|·|y|. */
  readonly area: number;
}

/** Any domain a grid can live on. */
export type Domain = Interval | Rectangle;

/**
 * The interval [lower, upper]. Throws a {@link DomainError} unless both bounds are finite and lower < upper.
 */
export function interval(lower: number, upper: number): Interval {
  if (typeof lower !== 'number' || typeof upper !== 'number' || !Number.isFinite(lower) || !Number.isFinite(upper)) {
    throw new DomainError('interval', {
      expected: 'finite numeric bounds',
      received: `[${describeValue(lower)}, ${describeValue(upper)}]`,
      fix: 'pass finite numbers, e.g. interval(0, 1)',
    });
  }
  if (!(lower < upper)) {
    throw new DomainError('interval', {
      expected: 'lower < upper',
      received: `[${lower}, ${upper}]`,
      fix: 'swap the bounds or give the interval a positive length',
    });
  }
  return Object.freeze({ kind: 'interval', lower, upper, length: upper - lower });
}

/** The rectangle x × y. */
export function rectangle(x: Interval, y: Interval): Rectangle {
  for (const [name, side] of [
    ['x', x],
    ['y', y],
  ] as const) {
    if (side?.kind !== 'interval') {
      throw new DomainError(`rectangle: side ${name}`, {
        expected: 'an Interval made by interval(lower, upper)',
        received: describeValue(side),
        fix: 'build each side with interval()',
      });
    }
  }
  return Object.freeze({ kind: 'rectangle', x, y, area: x.length * y.length });
}
