// Quadrature exactness as a property: each rule integrates every polynomial up to its degree exactly
// (to rounding), over many sizes and random intervals, and fails at degree + 1.
import { describe, expect, it } from 'vitest';
import { convergenceOrder } from '@tide/backend/testing';
import { gaussLegendreRule } from './gauss-legendre.js';
import type { Grid } from './grid.js';
import { customGrid, integrate } from './grid.js';
import { interval, type Interval } from './interval.js';
import { featureGrid, midpointRule, tokenGrid } from './midpoint.js';
import { productGrid } from './product-grid.js';
import { trapezoidRule } from './trapezoid.js';
import { DomainError } from './errors.js';

/** A deterministic LCG in [0, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** Relative error of the rule on (x − a)^k, whose exact integral is L^{k+1}/(k+1). */
function monomialError(grid: Grid, k: number): number {
  const d = grid.domain as Interval;
  const exact = d.length ** (k + 1) / (k + 1);
  return Math.abs(integrate(grid, (x) => (x - d.lower) ** k) - exact) / exact;
}

const rules = [
  { name: 'midpoint', make: midpointRule, sizes: [1, 2, 3, 7, 16, 64] },
  { name: 'trapezoid', make: trapezoidRule, sizes: [2, 3, 7, 16, 64] },
  { name: 'gauss-legendre', make: gaussLegendreRule, sizes: [1, 2, 3, 4, 5, 8, 13, 20, 32] },
] as const;

describe.each(rules)('$name rule', ({ make, sizes }) => {
  const random = rng(7);
  const intervals = Array.from({ length: 4 }, () => {
    const a = -5 + 10 * random();
    return interval(a, a + 0.5 + 4 * random());
  });

  it('integrates every degree up to its own exactly, on many sizes and intervals', () => {
    for (const dom of intervals) {
      for (const n of sizes) {
        const g = make(dom, n);
        expect(g.size).toBe(n);
        for (let k = 0; k <= g.degree; k++) {
          expect(monomialError(g, k), `n=${n}, degree ${k} on [${dom.lower}, ${dom.upper}]`).toBeLessThan(1e-12);
        }
      }
    }
  });

  it('is not exact one degree higher (the stated degree is sharp)', () => {
    for (const n of sizes) {
      const g = make(intervals[0]!, n);
      if (g.rule === 'gauss-legendre') {
        // ∏(x − p_l)² has degree 2n = degree + 1, a positive integral, and vanishes at every node.
        const nodePoly = (x: number) => g.points.reduce((acc, p) => acc * (x - p) ** 2, 1);
        expect(integrate(g, nodePoly), `n=${n}`).toBe(0);
        expect(integrate(gaussLegendreRule(intervals[0]!, n + 1), nodePoly)).toBeGreaterThan(0);
      } else {
        expect(monomialError(g, g.degree + 1), `n=${n}`).toBeGreaterThan(1e-9);
      }
    }
  });

  it('has positive weights summing to |Ω| and ascending points inside Ω', () => {
    for (const n of sizes) {
      const dom = intervals[1]!;
      const g = make(dom, n);
      const total = g.weights.reduce((a, b) => a + b, 0);
      expect(Math.abs(total - dom.length)).toBeLessThan(1e-12 * dom.length);
      for (let l = 0; l < n; l++) {
        expect(g.weights[l]).toBeGreaterThan(0);
        expect(g.points[l]).toBeGreaterThanOrEqual(dom.lower);
        expect(g.points[l]).toBeLessThanOrEqual(dom.upper);
        if (l > 0) expect(g.points[l]).toBeGreaterThan(g.points[l - 1]!);
      }
    }
  });
});

describe('convergence on smooth integrands', () => {
  const f = (x: number) => Math.exp(Math.sin(3 * x));
  const reference = integrate(gaussLegendreRule(interval(0, 2), 80), f);
  const ns = [8, 16, 32, 64, 128];

  it.each([
    ['midpoint', midpointRule],
    ['trapezoid', trapezoidRule],
  ] as const)('%s converges with order 2', (_name, make) => {
    const errors = ns.map((n) => Math.abs(integrate(make(interval(0, 2), n), f) - reference));
    expect(
      convergenceOrder(
        ns.map((n) => 2 / n),
        errors,
      ),
    ).toBeCloseTo(2, 0);
  });

  it('Gauss–Legendre converges spectrally (error < 1e-13 by n = 40)', () => {
    expect(Math.abs(integrate(gaussLegendreRule(interval(0, 2), 40), f) - reference)).toBeLessThan(1e-13);
    // A classical value: the 5-point nodes on [-1, 1].
    const g5 = gaussLegendreRule(interval(-1, 1), 5);
    expect(g5.points[4]).toBeCloseTo(0.906179845938664, 14);
    expect(g5.weights[2]).toBeCloseTo(128 / 225, 14);
  });
});

describe('standard grids', () => {
  it('tokenGrid(N) puts tokens at l + ½ with unit weights; featureGrid(d) has |Ω_y| = d', () => {
    const g = tokenGrid(4);
    expect(Array.from(g.points)).toEqual([0.5, 1.5, 2.5, 3.5]);
    expect(Array.from(g.weights)).toEqual([1, 1, 1, 1]);
    expect(featureGrid(8).domain).toMatchObject({ lower: 0, upper: 8, length: 8 });
  });
});

describe('productGrid', () => {
  it('integrates separable polynomials to the factors degree on a rectangle', () => {
    const g = productGrid(gaussLegendreRule(interval(0, 1), 3), gaussLegendreRule(interval(-1, 2), 4));
    expect(g.size).toBe(12);
    expect(g.dimension).toBe(2);
    expect(g.degree).toBe(5);
    // ∫₀¹ x⁵ dx · ∫₋₁² y⁵ dy = (1/6)·((64 − 1)/6)
    expect(integrate(g, (x, y) => x! ** 5 * y! ** 5)).toBeCloseTo((1 / 6) * (63 / 6), 12);
    expect(Array.from(g.points.subarray(0, 4))).toEqual([g.points[0], g.points[1], g.points[0], g.points[3]]);
  });

  it('rejects a non-grid factor', () => {
    expect(() => productGrid(midpointRule(interval(0, 1), 2), {} as never)).toThrow(/productGrid: second factor/);
  });
});

describe('bad input', () => {
  it('refuses empty and non-integer sizes', () => {
    expect(() => midpointRule(interval(0, 1), 0)).toThrow(DomainError);
    expect(() => gaussLegendreRule(interval(0, 1), 2.5)).toThrow(/expected an integer ≥ 1, received 2.5/);
    expect(() => trapezoidRule(interval(0, 1), 1)).toThrow(/expected an integer ≥ 2/);
    expect(() => tokenGrid(-3)).toThrow(DomainError);
  });

  it('custom grids check lengths, signs, order, finiteness and the domain', () => {
    const d = interval(0, 4);
    expect(customGrid(d, [0.5, 1, 3], [1, 1, 2]).rule).toBe('custom');
    expect(() => customGrid(d, [1, 2], [1])).toThrow(/as many weights as points, received 2 points and 1 weights/);
    expect(() => customGrid(d, [], [])).toThrow(/at least one point, received an empty grid/);
    expect(() => customGrid(d, [1, 2], [1, -1])).toThrow(
      /weight 1: expected a finite, non-negative weight, received -1/,
    );
    expect(() => customGrid(d, [2, 1], [1, 1])).toThrow(/strictly ascending/);
    expect(() => customGrid(d, [1, NaN], [1, 1])).toThrow(/finite coordinates/);
    expect(() => customGrid(d, [1, 5], [1, 1])).toThrow(/points inside \[0, 4\]/);
  });
});
