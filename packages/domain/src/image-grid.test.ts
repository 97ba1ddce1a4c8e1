// The token grid of an image model (docs/image-domains.md): the product midpoint grid of [0, 1]² in raster order,
// optionally after one class point with a patch's weight.
import { describe, expect, it } from 'vitest';
import { DomainError } from './errors.js';
import { integrate, makeGrid } from './grid.js';
import { gaussLegendreRule } from './gauss-legendre.js';
import { checkPatchGrid, imageLayoutOf, imageTokenGrid } from './image-grid.js';
import { interval, rectangle } from './interval.js';
import { midpointRule, tokenGrid } from './midpoint.js';
import { productGrid } from './product-grid.js';

describe('imageTokenGrid', () => {
  it('is the product midpoint grid of [0, 1]² in raster order, weights 1/(rows·cols)', () => {
    for (const [rows, cols] of [
      [1, 1],
      [2, 3],
      [4, 4],
      [3, 7],
    ] as const) {
      const g = imageTokenGrid(rows, cols);
      expect(g.size).toBe(rows * cols);
      expect(g.dimension).toBe(2);
      expect(g.rule).toBe('product');
      expect(g.layout).toEqual({ rows, cols, leading: 0 });
      expect(g.domain).toEqual(rectangle(interval(0, 1), interval(0, 1)));
      expect(Object.isFrozen(g)).toBe(true);
      for (let i = 0; i < rows; i++)
        for (let j = 0; j < cols; j++) {
          const l = i * cols + j; // raster order: the row index varies slowest
          expect(g.points[2 * l]).toBeCloseTo((i + 0.5) / rows, 15);
          expect(g.points[2 * l + 1]).toBeCloseTo((j + 0.5) / cols, 15);
          expect(g.weights[l]).toBeCloseTo(1 / (rows * cols), 15);
        }
      // It is the same grid as productGrid of two midpoint rules.
      const p = productGrid(midpointRule(interval(0, 1), rows), midpointRule(interval(0, 1), cols));
      expect(Array.from(g.points)).toEqual(Array.from(p.points));
      expect(Array.from(g.weights)).toEqual(Array.from(p.weights));
    }
  });

  it('integrates polynomials of degree ≤ 1 in each coordinate exactly, and not x² (midpoint, degree 1)', () => {
    const g = imageTokenGrid(5, 3);
    expect(g.degree).toBe(1);
    expect(integrate(g, () => 1)).toBeCloseTo(1, 14);
    expect(integrate(g, (x, y) => x! * y!)).toBeCloseTo(1 / 4, 14);
    expect(integrate(g, (x, y) => 2 * x! - 3 * y! + 0.5)).toBeCloseTo(1 - 1.5 + 0.5, 14);
    // Midpoint error of ∫x² over [0, 1] with h = 1/5: −h²/12.
    expect(integrate(g, (x) => x! ** 2) - 1 / 3).toBeCloseTo(-1 / (12 * 25), 14);
  });

  it('puts a class point at (0, 0) ahead of the patches, with the same weight', () => {
    const plain = imageTokenGrid(2, 3);
    const g = imageTokenGrid(2, 3, { classToken: true });
    expect(g.size).toBe(7);
    expect(g.layout).toEqual({ rows: 2, cols: 3, leading: 1 });
    expect(g.rule).toBe('product');
    expect(g.domain).toEqual(plain.domain);
    expect(Array.from(g.points.subarray(0, 2))).toEqual([0, 0]);
    expect(Array.from(g.points.subarray(2))).toEqual(Array.from(plain.points));
    // Uniform weights (they cancel in the softmax kernel); the total is (P + 1)/P, not 1.
    expect(new Set(g.weights).size).toBe(1);
    expect(g.weights[0]).toBeCloseTo(1 / 6, 15);
    expect(integrate(g, () => 1)).toBeCloseTo(7 / 6, 14);
    // The class point carries no spatial meaning: the stated degree is unknown.
    expect(g.degree).toBe(-1);
    expect(imageTokenGrid(2, 3, { classToken: false }).layout?.leading).toBe(0);
    expect(imageTokenGrid(1, 1, { classToken: true }).size).toBe(2);
  });

  it('refuses sizes that are not positive integers and malformed options', () => {
    for (const bad of [0, -2, 2.5, NaN, Infinity, '3', undefined]) {
      expect(() => imageTokenGrid(bad as number, 2), `rows ${String(bad)}`).toThrow(DomainError);
      expect(() => imageTokenGrid(2, bad as number), `cols ${String(bad)}`).toThrow(DomainError);
    }
    expect(() => imageTokenGrid(0, 2)).toThrow(/imageTokenGrid: rows.*integer ≥ 1/);
    expect(() => imageTokenGrid(2, 2, null as never)).toThrow(/classToken/);
    expect(() => imageTokenGrid(2, 2, { classToken: 'yes' as never })).toThrow(DomainError);
    expect(() => imageTokenGrid(2, 2, { classToken: 1 as never })).toThrow(DomainError);
  });
});

describe('imageLayoutOf', () => {
  it('reads the layout of image token grids and of product grids', () => {
    expect(imageLayoutOf(imageTokenGrid(3, 4, { classToken: true }), 'test')).toEqual({
      rows: 3,
      cols: 4,
      leading: 1,
    });
    const gl = productGrid(gaussLegendreRule(interval(0, 2), 2), midpointRule(interval(-1, 1), 5));
    expect(imageLayoutOf(gl, 'test')).toEqual({ rows: 2, cols: 5, leading: 0 });
  });

  it('refuses 1-D grids and 2-D grids without an image layout, naming the caller', () => {
    expect(() => imageLayoutOf(tokenGrid(4), 'myOperator')).toThrow(DomainError);
    expect(() => imageLayoutOf(tokenGrid(4), 'myOperator')).toThrow(/^myOperator: token grid: .*a 1-D grid/);
    const scattered = makeGrid({
      domain: rectangle(interval(0, 1), interval(0, 1)),
      rule: 'custom',
      dimension: 2,
      points: Float64Array.from([0.1, 0.2, 0.7, 0.4]),
      weights: Float64Array.from([0.5, 0.5]),
      degree: -1,
    });
    expect(() => imageLayoutOf(scattered, 'myOperator')).toThrow(/2-D grid without an image layout/);
    expect(() => imageLayoutOf(undefined as never, 'myOperator')).toThrow(DomainError);
  });
});

it('a layout must describe its grid, and only the midpoint patch grid of [0, 1]² passes checkPatchGrid', () => {
  const points = new Float64Array([0.25, 0.25, 0.25, 0.75, 0.75, 0.25, 0.75, 0.75]);
  const weights = new Float64Array(4).fill(0.25);
  const domain = rectangle(interval(0, 1), interval(0, 1));
  const spec = { domain, rule: 'custom' as const, dimension: 2 as const, points, weights, degree: -1 };
  expect(checkPatchGrid(makeGrid({ ...spec, layout: { rows: 2, cols: 2, leading: 0 } }), 'g')).toEqual({
    rows: 2,
    cols: 2,
    leading: 0,
  });
  for (const layout of [
    { rows: 2, cols: 3, leading: 0 },
    { rows: 1.5, cols: 2, leading: 1 },
    { rows: 4, cols: 1, leading: -0 + 1 },
  ])
    expect(() => makeGrid({ ...spec, layout })).toThrow(/layout/);
  const gauss = productGrid(gaussLegendreRule(interval(0, 1), 2), gaussLegendreRule(interval(0, 1), 2));
  expect(() => checkPatchGrid(gauss, 'convolution')).toThrow(DomainError);
  const wider = productGrid(midpointRule(interval(0, 2), 2), midpointRule(interval(0, 2), 2));
  expect(() => checkPatchGrid(wider, 'convolution')).toThrow(/midpoint patch grid of \[0, 1\]²/);
  expect(checkPatchGrid(imageTokenGrid(3, 2, { classToken: true }), 'g')).toEqual({ rows: 3, cols: 2, leading: 1 });
});
