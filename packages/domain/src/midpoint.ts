/**
 * The composite midpoint rule: the standard token grid.
 *
 * On [a, b] with n cells of width h = (b − a)/n: `p_l = a + (l + ½)h`, `w_l = h`; exact for degree 1,
 * error O(h²) for smooth integrands. With [0, N] and n = N it is the unit-spaced grid of a discrete
 * Transformer: tokens at l + ½, every weight 1 (docs/domains-and-quadrature.md).
 */
import type { Grid } from './grid.js';
import { checkPointCount, makeGrid } from './grid.js';
import { interval, type Interval } from './interval.js';

/** n midpoint cells on `domain`. */
export function midpointRule(domain: Interval, n: number): Grid {
  checkPointCount('midpointRule', n);
  const h = domain.length / n;
  const points = new Float64Array(n);
  for (let l = 0; l < n; l++) points[l] = domain.lower + (l + 0.5) * h;
  return makeGrid({ domain, rule: 'midpoint', dimension: 1, points, weights: new Float64Array(n).fill(h), degree: 1 });
}

/** The standard token grid of a sequence of N tokens: midpoints of [0, N], unit weights. */
export function tokenGrid(n: number): Grid {
  checkPointCount('tokenGrid', n);
  return midpointRule(interval(0, n), n);
}

/**
 * The standard feature grid of width d: midpoints of [0, d], unit weights, so |Ω_y| = d and the
 * feature integral ⟨q, k⟩_{Ω_y}/√|Ω_y| is exactly q·k/√d.
 */
export function featureGrid(d: number): Grid {
  checkPointCount('featureGrid', d);
  return midpointRule(interval(0, d), d);
}
