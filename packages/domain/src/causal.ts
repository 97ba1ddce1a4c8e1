/**
 * The causal sub-domain of a token grid: for a query point x, the keys x̃ ≤ x (docs/domains-and-quadrature.md).
 *
 * For a 1-D grid the comparison uses the points' coordinates; for a 2-D product grid it uses raster order.
 */
import { describeValue } from '@tide/backend';
import { DomainError } from './errors.js';
import type { Grid } from './grid.js';

/** The causal sub-domain of a grid, as an inclusion test and a 0/1 matrix. */
export interface CausalSubdomain {
  readonly grid: Grid;
  /** True when key l lies in the causal sub-domain of query k. */
  includes(k: number, l: number): boolean;
  /** `[N, N]` row-major, 1 where key l ≤ query k, else 0. */
  readonly mask: Float32Array;
}

/** The causal sub-domain {(x, x̃) : x̃ ≤ x} of a token grid. */
export function causalSubdomain(grid: Grid): CausalSubdomain {
  if (typeof grid !== 'object' || grid === null || !(grid.weights instanceof Float64Array)) {
    throw new DomainError('causalSubdomain: grid', {
      expected: 'a Grid',
      received: describeValue(grid),
      fix: 'build the token grid with @tide/domain',
    });
  }
  const n = grid.size;
  // Points are ascending on 1-D grids, and raster order is the order on product grids: both reduce to l ≤ k.
  const includes = (k: number, l: number): boolean => l <= k;
  const mask = new Float32Array(n * n);
  for (let k = 0; k < n; k++) for (let l = 0; l <= k; l++) mask[k * n + l] = 1;
  return Object.freeze({ grid, includes, mask });
}
