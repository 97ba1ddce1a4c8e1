/**
 * The composite trapezoid rule on n ≥ 2 points including both ends:
 * `p_l = a + l·h`, h = (b − a)/(n − 1), weights h/2 at the ends and h inside. Exact for degree 1, error O(h²).
 */
import type { Grid } from './grid.js';
import { checkPointCount, makeGrid } from './grid.js';
import type { Interval } from './interval.js';

/** n trapezoid points on `domain` (n ≥ 2). */
export function trapezoidRule(domain: Interval, n: number): Grid {
  checkPointCount('trapezoidRule', n, 2);
  const h = domain.length / (n - 1);
  const points = new Float64Array(n);
  const weights = new Float64Array(n).fill(h);
  for (let l = 0; l < n; l++) points[l] = l === n - 1 ? domain.upper : domain.lower + l * h;
  weights[0] = h / 2;
  weights[n - 1] = h / 2;
  return makeGrid({ domain, rule: 'trapezoid', dimension: 1, points, weights, degree: 1 });
}
