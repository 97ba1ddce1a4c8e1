import { describe, expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { describeEachBackend, expectClose, expectTensorCount } from '@tide/backend/testing';
import { DomainError, ShapeError } from './errors.js';
import { field } from './field.js';
import { gaussLegendreRule } from './gauss-legendre.js';
import { interval } from './interval.js';
import { featureGrid, tokenGrid } from './midpoint.js';

describeEachBackend('field', () => {
  it('wraps [B, N_x, N_y] values with default standard grids', async () => {
    const u = field(tf.ones([2, 3, 4]));
    expect([u.batch, u.tokens, u.features]).toEqual([2, 3, 4]);
    expect(u.tokenGrid.rule).toBe('midpoint');
    expect(Array.from(u.tokenGrid.points)).toEqual([0.5, 1.5, 2.5]);
    expect(u.featureGrid.size).toBe(4);
    const w = await expectTensorCount(() => u.tokenWeightTensor(), 1);
    expect(w.shape).toEqual([1, 3]);
    w.dispose();
    u.dispose();
  });

  it('keeps per-sample token weights (padding = 0) and exposes them as [B, N_x]', () => {
    const grid = gaussLegendreRule(interval(0, 1), 3);
    const u = field(tf.zeros([2, 3, 2]), {
      tokenGrid: grid,
      tokenWeights: [
        [1, 1, 0],
        [0.2, 0.3, 0.5],
      ],
    });
    const w = u.tokenWeightTensor();
    expect(w.shape).toEqual([2, 3]);
    expectClose(w, [
      [1, 1, 0],
      [0.2, 0.3, 0.5],
    ]);
    expect(Array.from(u.sampleTokenWeights(1))).toEqual([0.2, 0.3, 0.5]);
    tf.dispose([w]);
    u.dispose();
  });

  it('withValues keeps grids and weights and checks the shape', () => {
    const u = field(tf.zeros([1, 2, 3]), { tokenWeights: [1, 0] });
    const v = u.withValues(tf.ones([1, 2, 3]));
    expect(v.tokenWeights).toBe(u.tokenWeights);
    expect(() => u.withValues(tf.ones([1, 3, 3]))).toThrow(ShapeError);
    tf.dispose([u.values, v.values]);
  });
});

describe('field: bad input', () => {
  it('names the expected and received shapes', () => {
    const t = tf.zeros([2, 3]);
    expect(() => field(t)).toThrow(
      /expected a non-empty tf.Tensor of shape \[B, N_x, N_y\], received a tensor of shape \[2, 3\]/,
    );
    const u = tf.zeros([1, 3, 4]);
    expect(() => field(u, { tokenGrid: tokenGrid(5) })).toThrow(
      /field: values: expected \[B, 5, 4\].*received \[1, 3, 4\]/,
    );
    expect(() => field(u, { featureGrid: featureGrid(3) })).toThrow(ShapeError);
    expect(() => field([1, 2] as never)).toThrow(ShapeError);
    tf.dispose([t, u]);
  });

  it('refuses non-float32 values and bad weights', () => {
    const i = tf.zeros([1, 2, 2], 'int32');
    expect(() => field(i)).toThrow(/dtype: expected float32, received int32/);
    const u = tf.zeros([2, 2, 2]);
    expect(() => field(u, { tokenWeights: [1, 1, 1] })).toThrow(
      /expected 4 weights \(\[B, N_x\] = \[2, 2\]\), received 3 weights/,
    );
    expect(() => field(u, { tokenWeights: [1, 1, 1, -1] })).toThrow(
      /tokenWeights\[1\]\[1\]: expected a finite, non-negative weight, received -1/,
    );
    expect(() => field(u, { tokenWeights: [1, 1, 0, 0] })).toThrow(DomainError);
    expect(() => field(u, { tokenWeights: [1, 1, 0, 0] })).toThrow(/whole sample is padding/);
    expect(() => field(u, { tokenGrid: { size: 2 } as never })).toThrow(/field: tokenGrid: expected a Grid/);
    tf.dispose([i, u]);
  });
});
