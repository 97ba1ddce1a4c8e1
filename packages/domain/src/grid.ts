/**
 * A grid: the discretisation of a domain by quadrature points and weights (paper §2; docs/domains-and-quadrature.md).
 *
 * `∫_Ω f ≈ Σ_l w_l f(p_l)`. For a 1-D domain `points` holds `N` coordinates in ascending order; for a
 * rectangle it holds `N` pairs `(x, y)` flattened (`dimension = 2`), in raster order.
 */
import { describeValue } from '@tide/backend';
import { DomainError } from './errors.js';
import type { Domain } from './interval.js';

/** The name of the rule that made a grid. */
export type QuadratureRuleName = 'midpoint' | 'trapezoid' | 'gauss-legendre' | 'custom' | 'product';

/** Quadrature points and weights on a domain. Immutable. */
export interface Grid {
  readonly domain: Domain;
  readonly rule: QuadratureRuleName;
  /** Number of points N. */
  readonly size: number;
  /** 1 for an interval, 2 for a rectangle. */
  readonly dimension: 1 | 2;
  /** `[N·dimension]` coordinates. */
  readonly points: Float64Array;
  /** `[N]` non-negative weights. */
  readonly weights: Float64Array;
  /** The highest polynomial degree the rule integrates exactly (−1 when unknown). */
  readonly degree: number;
  /**
   * A 2-D grid laid out as an image: `[rows, cols]` of its product points in raster order (index i·cols + j), after
   * `leading` extra points (a class token: one extra quadrature point ahead of the patches). Set by
   * {@link productGrid} (`leading` 0) and `imageTokenGrid`; absent on 1-D and scattered grids.
   */
  readonly layout?: ImageLayout;
}

/** How a 2-D token grid's points sit on the image: `leading` extra points, then `rows × cols` in raster order. */
export interface ImageLayout {
  readonly rows: number;
  readonly cols: number;
  readonly leading: number;
}

/** Validates and freezes a grid; used by every rule and by {@link customGrid}. */
export function makeGrid(spec: Omit<Grid, 'size'> & { readonly size?: number }): Grid {
  const { points, weights, dimension } = spec;
  const n = weights.length;
  if (n === 0) {
    throw new DomainError(`${spec.rule} grid`, {
      expected: 'at least one point',
      received: 'an empty grid',
      fix: 'ask for n ≥ 1 points',
    });
  }
  if (points.length !== n * dimension) {
    throw new DomainError(`${spec.rule} grid`, {
      expected: `${n * dimension} coordinates (${n} points × dimension ${dimension}) to match ${n} weights`,
      received: `${points.length} coordinates`,
      fix: 'give one weight per point',
    });
  }
  for (let i = 0; i < n; i++) {
    const w = weights[i]!;
    if (!Number.isFinite(w) || w < 0) {
      throw new DomainError(`${spec.rule} grid: weight ${i}`, {
        expected: 'a finite, non-negative weight',
        received: describeValue(w),
        fix: 'quadrature weights must be finite and ≥ 0 (use 0 for padding)',
      });
    }
  }
  for (let i = 0; i < points.length; i++) {
    if (!Number.isFinite(points[i]!)) {
      throw new DomainError(`${spec.rule} grid: point ${Math.floor(i / dimension)}`, {
        expected: 'finite coordinates',
        received: describeValue(points[i]),
        fix: 'remove non-finite points',
      });
    }
  }
  if (dimension === 1) {
    for (let i = 1; i < n; i++) {
      if (!(points[i]! > points[i - 1]!)) {
        throw new DomainError(`${spec.rule} grid`, {
          expected: 'strictly ascending points',
          received: `point ${i - 1} = ${points[i - 1]} and point ${i} = ${points[i]}`,
          fix: 'sort the points (and their weights) in ascending order',
        });
      }
    }
  }
  if (spec.layout !== undefined) checkLayout(spec.rule, spec.layout, n, dimension);
  return Object.freeze({ ...spec, size: n });
}

/** A layout must describe the grid it is on: dimension 2, `leading + rows·cols = N`, integer counts. */
function checkLayout(rule: string, layout: ImageLayout, n: number, dimension: number): void {
  const { rows, cols, leading } = (layout ?? {}) as Partial<ImageLayout>;
  const integers = [rows, cols, leading].every((v) => Number.isInteger(v) && (v as number) >= 0);
  if (dimension !== 2 || !integers || rows! < 1 || cols! < 1 || leading! + rows! * cols! !== n) {
    throw new DomainError(`${rule} grid: layout`, {
      expected: `a 2-D grid whose ${n} points are leading + rows·cols (integers, rows, cols ≥ 1)`,
      received: `dimension ${dimension}, layout ${JSON.stringify(layout) ?? describeValue(layout)}`,
      fix: 'leave layout out, or give the image layout of the points (imageTokenGrid does)',
    });
  }
}

/**
 * A grid from user points and weights (irregular token positions, resampled sequences).
 * Points must be ascending; weights non-negative.
 */
export function customGrid(domain: Domain, points: ArrayLike<number>, weights: ArrayLike<number>): Grid {
  if (domain?.kind !== 'interval') {
    throw new DomainError('customGrid: domain', {
      expected: 'an Interval',
      received: describeValue(domain),
      fix: 'for 2-D token grids use productGrid()',
    });
  }
  if (points.length !== weights.length) {
    throw new DomainError('customGrid', {
      expected: 'as many weights as points',
      received: `${points.length} points and ${weights.length} weights`,
      fix: 'give one weight per point',
    });
  }
  const grid = makeGrid({
    domain,
    rule: 'custom',
    dimension: 1,
    points: Float64Array.from(points),
    weights: Float64Array.from(weights),
    degree: -1,
  });
  if (grid.points[0]! < domain.lower || grid.points[grid.size - 1]! > domain.upper) {
    throw new DomainError('customGrid', {
      expected: `points inside [${domain.lower}, ${domain.upper}]`,
      received: `points from ${grid.points[0]} to ${grid.points[grid.size - 1]}`,
      fix: 'enlarge the domain or move the points',
    });
  }
  return grid;
}

/** `Σ_l w_l f(p_l)`: integrates a function of the grid's coordinates. */
export function integrate(grid: Grid, f: (...coords: number[]) => number): number {
  let sum = 0;
  for (let l = 0; l < grid.size; l++) {
    const coords = Array.from(grid.points.subarray(l * grid.dimension, (l + 1) * grid.dimension));
    sum += grid.weights[l]! * f(...coords);
  }
  return sum;
}

/** Throws a {@link DomainError} unless `n` is a positive integer. */
export function checkPointCount(rule: string, n: number, min = 1): void {
  if (!Number.isInteger(n) || n < min) {
    throw new DomainError(`${rule}: number of points`, {
      expected: `an integer ≥ ${min}`,
      received: describeValue(n),
      fix: `ask for at least ${min} point(s)`,
    });
  }
}
