// Resampling has the order of accuracy it states: measured by refinement (log–log fit).
import { describe, expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { convergenceOrder, describeEachBackend, expectClose, expectTensorCount } from '@tide/backend/testing';
import { DomainError } from './errors.js';
import { field } from './field.js';
import { gaussLegendreRule } from './gauss-legendre.js';
import type { Grid } from './grid.js';
import { interval } from './interval.js';
import { midpointRule } from './midpoint.js';
import { productGrid } from './product-grid.js';
import { interpolationMatrix, resampleFeatures, resampleTokens, restrictionMatrix } from './resample.js';

const omega = interval(0, 2);
const f = (x: number) => Math.sin(2 * x) + 0.3 * Math.cos(5 * x);

/** max |M·f(source) − f(target)| in float64. */
function hostError(matrix: Float64Array, source: Grid, target: Grid): number {
  let worst = 0;
  for (let i = 0; i < target.size; i++) {
    let s = 0;
    for (let j = 0; j < source.size; j++) s += matrix[i * source.size + j]! * f(source.points[j]!);
    worst = Math.max(worst, Math.abs(s - f(target.points[i]!)));
  }
  return worst;
}

describe('interpolation and restriction matrices (float64)', () => {
  const target = gaussLegendreRule(omega, 37);
  const ns = [16, 32, 64, 128, 256];

  it.each([
    [2, 'midpoint', midpointRule],
    [4, 'midpoint', midpointRule],
    [2, 'gauss-legendre', gaussLegendreRule],
    [4, 'gauss-legendre', gaussLegendreRule],
  ] as const)('order %i from a %s source grid is measured as %i', (order, _name, make) => {
    const errors = ns.map((n) => hostError(interpolationMatrix(make(omega, n), target, order), make(omega, n), target));
    const measured = convergenceOrder(
      ns.map((n) => 1 / n),
      errors,
    );
    // The target points sit at varying positions inside the source cells, so the fit scatters upwards.
    expect(measured, `measured ${measured}`).toBeGreaterThan(order - 0.25);
    expect(measured, `measured ${measured}`).toBeLessThan(order + 0.5);
  });

  it('rows reproduce polynomials of degree order − 1 exactly', () => {
    const source = gaussLegendreRule(omega, 9);
    const m = interpolationMatrix(source, midpointRule(omega, 5), 4);
    for (let i = 0; i < 5; i++) {
      let s0 = 0;
      let s3 = 0;
      for (let j = 0; j < 9; j++) {
        s0 += m[i * 9 + j]!;
        s3 += m[i * 9 + j]! * source.points[j]! ** 3;
      }
      expect(s0).toBeCloseTo(1, 12);
      expect(s3).toBeCloseTo(midpointRule(omega, 5).points[i]! ** 3, 11);
    }
  });

  it('restriction is second order and reproduces constants and linears', () => {
    const errors = [8, 16, 32, 64, 128].map((n) => {
      const coarse = midpointRule(omega, n);
      const fine = midpointRule(omega, 4 * n);
      return hostError(restrictionMatrix(fine, coarse), fine, coarse);
    });
    expect(
      convergenceOrder(
        [8, 16, 32, 64, 128].map((n) => 1 / n),
        errors,
      ),
    ).toBeCloseTo(2, 0);
    const r = restrictionMatrix(gaussLegendreRule(omega, 20), midpointRule(omega, 7));
    const fine = gaussLegendreRule(omega, 20);
    const coarse = midpointRule(omega, 7);
    for (let c = 0; c < 7; c++) {
      const row = r.subarray(c * 20, c * 20 + 20);
      expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 13);
      expect(row.reduce((a, w, f) => a + w * fine.points[f]!, 0)).toBeCloseTo(coarse.points[c]!, 12);
    }
  });
});

describeEachBackend('resampling fields', () => {
  function sampled(xGrid: Grid, yGrid: Grid, batch = 2): tf.Tensor3D {
    const data = new Float32Array(batch * xGrid.size * yGrid.size);
    for (let b = 0; b < batch; b++)
      for (let i = 0; i < xGrid.size; i++)
        for (let j = 0; j < yGrid.size; j++)
          data[(b * xGrid.size + i) * yGrid.size + j] = (b + 1) * f(xGrid.points[i]!) * Math.cos(yGrid.points[j]!);
    return tf.tensor3d(data, [batch, xGrid.size, yGrid.size]);
  }

  it('resampleTokens converges with order 2 onto a Gauss–Legendre grid', async () => {
    const yg = midpointRule(interval(0, 1), 3);
    const target = gaussLegendreRule(omega, 11);
    const errors: number[] = [];
    const ns = [8, 16, 32, 64, 128];
    for (const n of ns) {
      const src = midpointRule(omega, n);
      const u = field(sampled(src, yg), { tokenGrid: src, featureGrid: yg });
      const v = await expectTensorCount(() => resampleTokens(u, target), 1);
      expect(v.values.shape).toEqual([2, 11, 3]);
      expect(v.tokenGrid).toBe(target);
      const exact = sampled(target, yg);
      errors.push(tf.max(tf.abs(tf.sub(v.values, exact))).dataSync()[0]!);
      tf.dispose([u.values, v.values, exact]);
    }
    const measured = convergenceOrder(
      ns.map((n) => 1 / n),
      errors,
    );
    expect(measured).toBeGreaterThan(1.75);
    expect(measured).toBeLessThan(2.5);
    expect(errors[4]).toBeLessThan(1e-3);
  });

  it('resampleFeatures prolongs (order 4) and restricts (order 2) on the feature domain', async () => {
    const xg = midpointRule(interval(0, 1), 2);
    const dom = interval(0, 3);
    const coarse = midpointRule(dom, 12);
    const fine = midpointRule(dom, 48);
    const u = field(sampled(xg, coarse, 1), { tokenGrid: xg, featureGrid: coarse });
    const up = await expectTensorCount(() => resampleFeatures(u, fine, { order: 4 }), 1);
    expect(up.featureGrid).toBe(fine);
    const exactFine = sampled(xg, fine, 1);
    expectClose(up.values, exactFine, { atol: 2e-3 });
    const down = resampleFeatures(up, coarse);
    // A hat average of width 2h_c smooths by ≈ h_c²·|u''|/6 ≈ 0.01 here.
    expectClose(down.values, u.values, { atol: 1.5e-2 });
    expect(tf.max(tf.abs(tf.sub(down.values, u.values))).dataSync()[0]).toBeGreaterThan(1e-4);
    tf.dispose([u.values, up.values, down.values, exactFine]);
  });

  it('refuses padded fields, other feature domains, 2-D grids and bad orders', () => {
    const u = field(tf.zeros([1, 2, 2]), { tokenWeights: [1, 0] });
    expect(() => resampleTokens(u, midpointRule(interval(0, 2), 4))).toThrow(/padded field/);
    expect(() => resampleFeatures(u, midpointRule(interval(0, 4), 4))).toThrow(/is a lift/);
    expect(() => resampleTokens(u, midpointRule(interval(0, 2), 4), { order: 3 as never })).toThrow(DomainError);
    const g2 = productGrid(midpointRule(omega, 2), midpointRule(omega, 2));
    expect(() => interpolationMatrix(g2, midpointRule(omega, 2))).toThrow(/2-D product grid/);
    u.dispose();
  });
});
