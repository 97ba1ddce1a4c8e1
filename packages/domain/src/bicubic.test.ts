// Bicubic resampling on image token grids (docs/image-domains.md) against PyTorch's F.interpolate(mode='bicubic',
// align_corners=True) and torchvision's interpolate_embeddings (fixtures by tools/fixtures/generate_resampling.py).
import { describe, expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { convergenceOrder, describeEachBackend, expectClose, expectTensorCount } from '@tide/backend/testing';
import { bicubicMatrix, resampleImageField } from './bicubic.js';
import { DomainError, ShapeError } from './errors.js';
import { field, type Field } from './field.js';
import { gaussLegendreRule } from './gauss-legendre.js';
import { makeGrid } from './grid.js';
import { imageTokenGrid } from './image-grid.js';
import { interval, rectangle } from './interval.js';
import { midpointRule } from './midpoint.js';
import { productGrid } from './product-grid.js';
import fixture from './fixtures/bicubic.json' with { type: 'json' };

/** The parameter of PyTorch's cubic convolution kernel. */
const a = -0.75;

/** `(M x)` for a row-major `[out, in]` matrix. */
function apply(m: Float64Array, x: ArrayLike<number>, out: number): number[] {
  const n = x.length;
  return Array.from({ length: out }, (_, o) => {
    let s = 0;
    for (let j = 0; j < n; j++) s += m[o * n + j]! * x[j]!;
    return s;
  });
}

/** A field on the image token grid from nested `[B][N][d]` numbers. */
function imageField(x: number[][][], rows: number, cols: number, classToken = false): Field {
  return field(tf.tensor3d(x), { tokenGrid: imageTokenGrid(rows, cols, { classToken }) });
}

describe('bicubicMatrix (float64)', () => {
  it('equals PyTorch bicubic (align_corners=True) along one axis, up, down, equal and from or to one point', () => {
    expect(fixture.matrices.length).toBeGreaterThanOrEqual(10);
    for (const { in: n, out, matrix } of fixture.matrices) {
      const m = bicubicMatrix(n, out);
      expect(m.length).toBe(n * out);
      // PyTorch computes the weights in float32: agreement to its rounding.
      expectClose(m, matrix, { atol: 1e-6, rtol: 1e-5 }, `${n} → ${out}`);
    }
  });

  it('has rows that sum to 1, is the identity for equal sizes, and reads index 0 for one output point', () => {
    for (const n of [1, 2, 3, 5, 14, 37])
      for (const out of [1, 2, 4, 7, 24, 61]) {
        const m = bicubicMatrix(n, out);
        for (let o = 0; o < out; o++)
          expect(
            m.subarray(o * n, (o + 1) * n).reduce((s, w) => s + w, 0),
            `${n} → ${out}, row ${o}`,
          ).toBeCloseTo(1, 13);
      }
    for (const n of [1, 2, 5, 24]) {
      const m = bicubicMatrix(n, n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expect(m[i * n + j]).toBe(i === j ? 1 : 0);
    }
    expect(Array.from(bicubicMatrix(1, 3))).toEqual([1, 1, 1]);
    expect(Array.from(bicubicMatrix(3, 1))).toEqual([1, 0, 0]);
  });

  it('reproduces linear functions only at t ∈ {0, ½}: the first moment is off by −(2a + 1)·t(1 − t)(1 − 2t)', () => {
    // Source index s = o·(in − 1)/(out − 1), t = s − ⌊s⌋. Rows whose four taps need no clamping, in index units.
    for (const [n, out] of [
      [9, 25],
      [5, 9],
      [12, 31],
      [20, 7],
    ] as const) {
      const m = bicubicMatrix(n, out);
      let checked = 0;
      for (let o = 0; o < out; o++) {
        const s = (o * (n - 1)) / (out - 1);
        const i = Math.floor(s + 1e-9);
        const t = Math.max(0, s - i);
        if (i < 1 || i > n - 3) continue;
        const moment = apply(
          m,
          Array.from({ length: n }, (_, j) => j),
          out,
        )[o]!;
        expect(moment - s, `${n} → ${out}, row ${o}, t = ${t}`).toBeCloseTo(
          -(2 * a + 1) * t * (1 - t) * (1 - 2 * t),
          6,
        );
        checked++;
      }
      expect(checked).toBeGreaterThan(2);
    }
    // Upsampling 5 → 9 has t ∈ {0, ½} only: linear functions are reproduced up to the clamped ends.
    const m = bicubicMatrix(5, 9);
    const line = apply(
      m,
      [0, 1, 2, 3, 4].map((j) => 2 - 3 * j),
      9,
    );
    for (let o = 2; o <= 6; o++) expect(line[o]).toBeCloseTo(2 - 1.5 * o, 12);
    // At o = 1 (s = ½) the tap at index −1 is read at index 0: W(3/2) = a/8 = −3/32 times f(0) − f(−1) = −3.
    expect(line[1]! - (2 - 1.5)).toBeCloseTo((a / 8) * -3, 12);
    expect(line[7]! - (2 - 1.5 * 7)).toBeCloseTo((a / 8) * 3, 12);
  });

  it('is first-order accurate on smooth functions (measured by refinement), not third order as a = −½ would be', () => {
    const f = (x: number) => Math.sin(3 * x) + 0.5 * Math.cos(7 * x);
    const sizes = [8, 16, 32, 64, 128];
    const errors = sizes.map((n) => {
      const out = 3 * (n - 1) + 1; // t ∈ {0, ⅓, ⅔}: not the special points t ∈ {0, ½}
      const values = apply(
        bicubicMatrix(n, out),
        Array.from({ length: n }, (_, j) => f(j / (n - 1))),
        out,
      );
      return Math.max(...values.map((v, o) => Math.abs(v - f(o / (out - 1)))));
    });
    const measured = convergenceOrder(
      sizes.map((n) => 1 / (n - 1)),
      errors,
    );
    expect(measured, `measured ${measured}`).toBeGreaterThan(0.85);
    expect(measured, `measured ${measured}`).toBeLessThan(1.2);
  });

  it('refuses sizes that are not positive integers', () => {
    for (const bad of [0, -1, 2.5, NaN, Infinity, '4', undefined]) {
      expect(() => bicubicMatrix(bad as number, 3), String(bad)).toThrow(DomainError);
      expect(() => bicubicMatrix(3, bad as number), String(bad)).toThrow(DomainError);
    }
    expect(() => bicubicMatrix(0, 3)).toThrow(/bicubicMatrix: inSize: expected an integer ≥ 1/);
    expect(() => bicubicMatrix(3, 1.5)).toThrow(/bicubicMatrix: outSize: .*received 1\.5/);
  });
});

describeEachBackend('resampleImageField', (backend) => {
  // webgl computes in its own float32 path; the host backends keep an identity exact.
  const exact = backend === 'webgl' ? { atol: 1e-6, rtol: 1e-6 } : { atol: 0, rtol: 0 };

  it('equals PyTorch bicubic on patch fields, square and non-square, up, down and equal; one tensor survives', async () => {
    for (const c of fixture.fields) {
      const u = imageField(c.x, c.rows, c.cols);
      const v = await expectTensorCount(() => resampleImageField(u, c.newRows, c.newCols), 1, c.name);
      expect(v.values.shape).toEqual([c.x.length, c.newRows * c.newCols, c.x[0]![0]!.length]);
      expect(v.tokenGrid.layout).toEqual({ rows: c.newRows, cols: c.newCols, leading: 0 });
      expect(Array.from(v.tokenGrid.points)).toEqual(Array.from(imageTokenGrid(c.newRows, c.newCols).points));
      expect(v.featureGrid).toBe(u.featureGrid);
      expectClose(v.values, c.y, { atol: 1e-5, rtol: 1e-5 }, c.name);
      u.dispose();
      v.dispose();
    }
  });

  it("equals torchvision's interpolate_embeddings on a position embedding with a class token", async () => {
    for (const c of fixture.torchvision) {
      const u = imageField(c.posEmbedding, c.side, c.side, true);
      const v = await expectTensorCount(() => resampleImageField(u, c.newSide, c.newSide), 1);
      expect(v.tokenGrid.layout).toEqual({ rows: c.newSide, cols: c.newSide, leading: 1 });
      expect(v.tokens).toBe(1 + c.newSide * c.newSide);
      expectClose(v.values, c.resampled, { atol: 1e-5, rtol: 1e-5 }, `${c.side} → ${c.newSide}`);
      // The class position is copied, not interpolated.
      const cls = tf.slice(v.values, [0, 0, 0], [1, 1, -1]);
      expectClose(cls, [[c.posEmbedding[0]![0]!]], { atol: 0, rtol: 0 });
      tf.dispose([u.values, v.values, cls]);
    }
  });

  it('is the identity for equal sizes, keeps constants, and resamples each axis on its own', async () => {
    const random = tf.randomNormal([2, 1 + 3 * 5, 4], 0, 1, 'float32', 11) as tf.Tensor3D;
    const u = field(random, { tokenGrid: imageTokenGrid(3, 5, { classToken: true }) });
    const same = resampleImageField(u, 3, 5);
    expectClose(same.values, u.values, exact);
    // Separable: rows first, then columns, equals both at once.
    const both = resampleImageField(u, 7, 2);
    const rowsOnly = resampleImageField(u, 7, 5);
    const thenCols = resampleImageField(rowsOnly, 7, 2);
    expectClose(both.values, thenCols.values, { atol: 1e-5, rtol: 1e-5 });
    // Rows of the matrices sum to 1: a constant field stays constant.
    const constant = field(tf.fill([1, 12, 2], 0.75), { tokenGrid: imageTokenGrid(3, 4) });
    const up = resampleImageField(constant, 9, 5);
    expectClose(up.values, tf.fill([1, 45, 2], 0.75), { atol: 1e-6, rtol: 0 });
    const down = await expectTensorCount(() => resampleImageField(up, 2, 1), 1);
    expectClose(
      down.values,
      [
        [
          [0.75, 0.75],
          [0.75, 0.75],
        ],
      ],
      { atol: 1e-6, rtol: 0 },
    );
    tf.dispose([u.values, same.values, both.values, rowsOnly.values, thenCols.values, constant.values]);
    tf.dispose([up.values, down.values]);
  });

  it('is differentiable: the gradient is the adjoint M_rᵀ G M_c on the patches and G on the class token', async () => {
    const [r, c, rows, cols, d] = [3, 4, 5, 2, 2];
    const grid = imageTokenGrid(r, c, { classToken: true });
    const x = tf.randomNormal([1, 1 + r * c, d], 0, 1, 'float32', 3) as tf.Tensor3D;
    const g = tf.randomNormal([1, 1 + rows * cols, d], 0, 1, 'float32', 4) as tf.Tensor3D;
    const grad = await expectTensorCount(
      () =>
        tf.grad((values: tf.Tensor) => {
          const v = resampleImageField(field(values, { tokenGrid: grid }), rows, cols).values;
          return tf.sum(tf.mul(v, g));
        })(x),
      1,
    );
    const mr = bicubicMatrix(r, rows);
    const mc = bicubicMatrix(c, cols);
    const gd = g.dataSync();
    const expected = new Float64Array((1 + r * c) * d);
    for (let f = 0; f < d; f++) {
      expected[f] = gd[f]!;
      for (let i = 0; i < r; i++)
        for (let j = 0; j < c; j++) {
          let s = 0;
          for (let p = 0; p < rows; p++)
            for (let q = 0; q < cols; q++) s += mr[p * r + i]! * gd[(1 + p * cols + q) * d + f]! * mc[q * c + j]!;
          expected[(1 + i * c + j) * d + f] = s;
        }
    }
    expectClose(grad, expected, { atol: 1e-5, rtol: 1e-5 });
    tf.dispose([x, g, grad]);
  });

  it('refuses non-fields, 1-D and non-patch grids, other leading counts, padding and bad sizes; nothing leaks', async () => {
    const u = field(tf.zeros([1, 1 + 4, 2]), { tokenGrid: imageTokenGrid(2, 2, { classToken: true }) });
    await expectTensorCount(() => {
      expect(() => resampleImageField(u.values as never, 3, 3)).toThrow(ShapeError);
      for (const bad of [0, -3, 2.5, NaN, '3']) {
        expect(() => resampleImageField(u, bad as number, 3), `rows ${String(bad)}`).toThrow(DomainError);
        expect(() => resampleImageField(u, 3, bad as number), `cols ${String(bad)}`).toThrow(DomainError);
      }
      expect(() => resampleImageField(u, 0, 3)).toThrow(/resampleImageField: rows: expected an integer ≥ 1/);
    }, 0);
    const sequence = field(tf.zeros([1, 4, 2]));
    expect(() => resampleImageField(sequence, 2, 2)).toThrow(/resampleImageField: token grid: .*a 1-D grid/);
    const unit = interval(0, 1);
    const twoLeading = makeGrid({
      domain: rectangle(unit, unit),
      rule: 'product',
      dimension: 2,
      points: new Float64Array(2 * 6),
      weights: new Float64Array(6).fill(0.25),
      degree: -1,
      layout: { rows: 2, cols: 2, leading: 2 },
    });
    const extra = field(tf.zeros([1, 6, 2]), { tokenGrid: twoLeading });
    expect(() => resampleImageField(extra, 3, 3)).toThrow(/leading tokens: .*received 2 leading tokens/);
    const gauss = field(tf.zeros([1, 6, 2]), {
      tokenGrid: productGrid(gaussLegendreRule(unit, 2), gaussLegendreRule(unit, 3)),
    });
    expect(() => resampleImageField(gauss, 3, 3)).toThrow(/midpoint patch grid of \[0, 1\]²/);
    const elsewhere = field(tf.zeros([1, 4, 2]), {
      tokenGrid: productGrid(midpointRule(interval(0, 2), 2), midpointRule(interval(0, 2), 2)),
    });
    expect(() => resampleImageField(elsewhere, 3, 3)).toThrow(DomainError);
    const padded = field(tf.zeros([2, 4, 2]), {
      tokenGrid: imageTokenGrid(2, 2),
      tokenWeights: [1, 1, 1, 0, 1, 1, 1, 1],
    });
    expect(() => resampleImageField(padded, 3, 3)).toThrow(/padded field/);
    // A product grid of two midpoint rules on [0, 1] is a patch grid (leading 0).
    const product = field(tf.ones([1, 6, 2]), {
      tokenGrid: productGrid(midpointRule(unit, 2), midpointRule(unit, 3)),
    });
    const ok = resampleImageField(product, 4, 4);
    expect(ok.tokenGrid.layout).toEqual({ rows: 4, cols: 4, leading: 0 });
    tf.dispose([u.values, sequence.values, extra.values, gauss.values, elsewhere.values, padded.values]);
    tf.dispose([product.values, ok.values]);
  });
});
