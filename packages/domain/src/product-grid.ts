/**
 * The tensor-product grid of two 1-D grids: a 2-D token domain (image patches).
 * Points `(x_i, y_j)` in raster order (index i·N_y + j), weights `w_i·w_j`; exact to min(degree) per coordinate.
 */
import { describeValue } from '@tide/backend';
import { DomainError } from './errors.js';
import type { Grid } from './grid.js';
import { makeGrid } from './grid.js';
import { rectangle } from './interval.js';

/** The product grid `gx × gy` on the rectangle of their domains. */
export function productGrid(gx: Grid, gy: Grid): Grid {
  for (const [name, g] of [
    ['first', gx],
    ['second', gy],
  ] as const) {
    if (g?.dimension !== 1 || g.domain.kind !== 'interval') {
      throw new DomainError(`productGrid: ${name} factor`, {
        expected: 'a 1-D grid on an interval',
        received: describeValue(g),
        fix: 'build each factor with a 1-D rule (midpointRule, gaussLegendreRule, …)',
      });
    }
  }
  const n = gx.size * gy.size;
  const points = new Float64Array(2 * n);
  const weights = new Float64Array(n);
  for (let i = 0; i < gx.size; i++) {
    for (let j = 0; j < gy.size; j++) {
      const l = i * gy.size + j;
      points[2 * l] = gx.points[i]!;
      points[2 * l + 1] = gy.points[j]!;
      weights[l] = gx.weights[i]! * gy.weights[j]!;
    }
  }
  if (gx.domain.kind !== 'interval' || gy.domain.kind !== 'interval') throw new Error('unreachable');
  return makeGrid({
    domain: rectangle(gx.domain, gy.domain),
    rule: 'product',
    dimension: 2,
    points,
    weights,
    degree: Math.min(gx.degree, gy.degree),
    layout: { rows: gx.size, cols: gy.size, leading: 0 },
  });
}
