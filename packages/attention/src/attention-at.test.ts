import { describe, expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { describeEachBackend, expectClose, expectNoLeaks, expectTensorCount } from '@tide/backend/testing';
import {
  DomainError,
  ShapeError,
  customGrid,
  field,
  gaussLegendreRule,
  interval,
  productGrid,
  tokenGrid,
  type Field,
  type Grid,
} from '@tide/domain';
import { integralAttentionAt } from './attention-at.js';
import { IntegralAttention, integralAttention } from './integral-attention.js';
import type { AttentionParameters } from './parameters.js';
import {
  randomMatrix,
  randomReferenceParams,
  referenceAttention,
  seeded,
  toParams,
  type Matrix,
  type ReferenceParams,
} from './reference.fixture.js';

const D = 6;
const H = 2;
const next = seeded(7);
const ref: ReferenceParams = randomReferenceParams(D, next);

// Keys: 7 Gauss–Legendre tokens on [0, 3], the second sample padded at its last two tokens.
// Queries: 5 points of [0, 3] between (never on) the keys, one before every key but the first.
const keyGrid = gaussLegendreRule(interval(0, 3), 7);
const keyWeights = [Array.from(keyGrid.weights), Array.from(keyGrid.weights, (w, l) => (l >= 5 ? 0 : w))];
const queryPoints = [0.2, 0.9, 1.3, 2.05, 2.95];
const queryGrid = customGrid(interval(0, 3), queryPoints, [1, 1, 1, 1, 1]);

function sample(rows: number, seed: number): Matrix[] {
  const gen = seeded(seed);
  return [randomMatrix(rows, D, gen), randomMatrix(rows, D, gen)];
}

const xk = sample(7, 1); // u's values at the keys, [2][7][D]
const xq = sample(5, 2); // the query field's values, [2][5][D]

function keyField(): Field {
  return field(tf.tensor3d(xk), { tokenGrid: keyGrid, tokenWeights: keyWeights });
}
function queryField(grid: Grid = queryGrid): Field {
  return field(tf.tensor3d(xq), { tokenGrid: grid });
}

/** The old trick: both point sets on one grid, weight 0 at the query points; evaluate there and keep the query rows. */
function unionGridEvaluation(params: AttentionParameters, causal: boolean): tf.Tensor3D {
  const points = [
    ...Array.from(keyGrid.points, (x, l) => ({ x, key: l })),
    ...queryPoints.map((x, k) => ({ x, query: k })),
  ].sort((a, b) => a.x - b.x);
  const grid = customGrid(
    interval(0, 3),
    points.map((p) => p.x),
    points.map(() => 1),
  );
  const values = [0, 1].map((b) => points.map((p) => ('key' in p ? xk[b]![p.key!]! : xq[b]![p.query!]!)));
  const weights = [0, 1].map((b) => points.map((p) => ('key' in p ? keyWeights[b]![p.key!]! : 0)));
  const union = field(tf.tensor3d(values), { tokenGrid: grid, tokenWeights: weights });
  const out = integralAttention(union, params, { heads: H, causal, implementation: 'plain' });
  const rows = points.flatMap((p, i) => ('query' in p ? [i] : []));
  const picked = tf.gather(out.values, rows, 1) as tf.Tensor3D; // [2, 5, D]
  tf.dispose([union.values, out.values]);
  return picked;
}

describeEachBackend('integralAttentionAt', () => {
  it.each([false, true])(
    'causal = %s: equals the float64 formula with queries from `at` and keys, values, weights from u',
    (causal) => {
      const params = toParams(ref);
      const u = keyField();
      const at = queryField();
      const out = integralAttentionAt(u, at, params, { heads: H, causal });
      expect(out.values.shape).toEqual([2, 5, D]);
      expect(out.tokenGrid).toBe(queryGrid);
      const expected = [0, 1].map(
        (b) =>
          referenceAttention(xq[b]!, xk[b]!, keyWeights[b]!, ref, H, {
            ...(causal && { allowed: (k: number, l: number) => keyGrid.points[l]! <= queryPoints[k]! }),
          }).out,
      );
      expectClose(out.values, expected, { atol: 2e-5, rtol: 1e-4 }, `causal=${causal}`);
      tf.dispose([u.values, at.values, out.values, ...(Object.values(params) as tf.Tensor[])]);
    },
  );

  it.each([false, true])(
    'causal = %s: equals the old trick, the union grid with weight 0 at the query points',
    (causal) => {
      const params = toParams(ref);
      const u = keyField();
      const at = queryField();
      const out = integralAttentionAt(u, at, params, { heads: H, causal });
      const trick = unionGridEvaluation(params, causal);
      expectClose(out.values, trick, { atol: 1e-5, rtol: 1e-5 });
      tf.dispose([u.values, at.values, out.values, trick, ...(Object.values(params) as tf.Tensor[])]);
    },
  );

  it("at u's own grid it is integralAttention(u), on every evaluation path; the operator's evaluateAt agrees", () => {
    const params = toParams(ref);
    const u = keyField();
    for (const causal of [false, true]) {
      const self = integralAttentionAt(u, u, params, { heads: H, causal });
      const plain = integralAttention(u, params, { heads: H, causal, implementation: 'plain' });
      const blocked = integralAttention(u, params, { heads: H, causal, implementation: 'blocked', block: 3 });
      expectClose(self.values, plain.values, { atol: 1e-6, rtol: 1e-5 });
      expectClose(self.values, blocked.values, { atol: 1e-5, rtol: 1e-4 });
      const op = new IntegralAttention(params, { heads: H, causal }).evaluateAt(u, u, 0);
      expectClose(op.values, self.values, { atol: 0, rtol: 0 });
      tf.dispose([self.values, plain.values, blocked.values, op.values]);
    }
    tf.dispose([u.values, ...(Object.values(params) as tf.Tensor[])]);
  });

  it("keeps at's grids, or puts a d_out ≠ d output on the unit feature grid of d_out; gradients reach u, at and W^Q", () => {
    const params = toParams(ref);
    const wide = { ...params, wo: tf.randomNormal([D, 4], 0, 1, 'float32', 3) as tf.Tensor2D, bo: undefined };
    const u = keyField();
    const at = queryField();
    const out = integralAttentionAt(u, at, wide, { heads: H });
    expect(out.values.shape).toEqual([2, 5, 4]);
    expect(out.featureGrid.size).toBe(4);
    expect(out.tokenGrid).toBe(queryGrid);
    const grads = tf.grads((x: tf.Tensor, y: tf.Tensor, wq: tf.Tensor) =>
      tf.sum(
        tf.square(
          integralAttentionAt(u.withValues(x), at.withValues(y), { ...params, wq: wq as tf.Tensor2D }, { heads: H })
            .values,
        ),
      ),
    )([u.values, at.values, params.wq]);
    for (const g of grads) expect(tf.max(tf.abs(g)).dataSync()[0]).toBeGreaterThan(0);
    tf.dispose([u.values, at.values, out.values, wide.wo, ...grads, ...(Object.values(params) as tf.Tensor[])]);
  });

  it('leaves exactly its output, with and without a gradient', async () => {
    const params = toParams(ref);
    const u = keyField();
    const at = queryField();
    const out = await expectTensorCount(() => integralAttentionAt(u, at, params, { heads: H, causal: true }), 1);
    out.dispose();
    await expectNoLeaks(() => new IntegralAttention(params, { heads: H }).evaluateAt(u, at).values);
    await expectNoLeaks(() =>
      tf.grad((x: tf.Tensor) =>
        tf.sum(integralAttentionAt(u, at.withValues(x), params, { heads: H, causal: true }).values),
      )(at.values),
    );
    tf.dispose([u.values, at.values, ...(Object.values(params) as tf.Tensor[])]);
  });
});

describe('integralAttentionAt: bad input', () => {
  it("names the query field, its shape and u's, the causal flag, and bad parameters", () => {
    const params = toParams(ref);
    const u = keyField();
    const at = queryField();
    expect(() => integralAttentionAt(u, tf.zeros([2, 5, D]) as never, params)).toThrow(
      /integralAttentionAt: at: expected a Field \(the query values \[B, M, d\] with their token grid\), received a tensor of shape \[2, 5, 6\]/,
    );
    expect(() => integralAttentionAt(tf.zeros([2, 7, D]) as never, at, params)).toThrow(ShapeError);
    const oneSample = field(tf.zeros([1, 5, D]), { tokenGrid: queryGrid });
    expect(() => integralAttentionAt(u, oneSample, params)).toThrow(
      /at: expected a query field of the same batch and feature count as u \(\[2, M, 6\]\), received at \[1, 5, 6\], u \[2, 7, 6\]/,
    );
    const narrow = field(tf.zeros([2, 5, 4]), { tokenGrid: queryGrid });
    expect(() => integralAttentionAt(u, narrow, params)).toThrow(ShapeError);
    const square = productGrid(tokenGrid(2), tokenGrid(3));
    const planar = field(tf.zeros([2, 6, D]), { tokenGrid: square });
    expect(() => integralAttentionAt(planar, at, params, { causal: true })).toThrow(DomainError);
    expect(() => integralAttentionAt(planar, at, params, { causal: true })).toThrow(
      /causal: expected 1-D token grids.*received a 1-D query grid and a 2-D key grid/,
    );
    expect(() => integralAttentionAt(u, at, params, { causal: 'yes' as never })).toThrow(
      /causal: expected a boolean, received "yes"/,
    );
    expect(() => integralAttentionAt(u, at, params, { heads: 4 })).toThrow(/widths divisible by heads = 4/);
    expect(() => integralAttentionAt(u, at, { ...params, wq: tf.zeros([D]) as never })).toThrow(
      /wq: expected a 2-D tensor/,
    );
    tf.dispose([
      u.values,
      at.values,
      oneSample.values,
      narrow.values,
      planar.values,
      ...(Object.values(params) as tf.Tensor[]),
    ]);
  });
});
