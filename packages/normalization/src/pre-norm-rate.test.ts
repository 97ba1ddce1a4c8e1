import { describe, expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { describeEachBackend, expectClose, expectNoLeaks, expectTensorCount } from '@tide/backend/testing';
import { DomainError, ShapeError, field, type Field, type VectorField } from '@tide/domain';
import { affineStep } from './affine-step.js';
import { layerNormConstraint } from './layer-norm-constraint.js';
import { preNormRate } from './pre-norm-rate.js';
import fixture from './fixtures/layernorm.json' with { type: 'json' };

type Matrix = number[][];

/** A hand-written linear rate `F(v) = v M + c` (the inner rate of the tests), recording the times it saw. */
class LinearRate implements VectorField {
  readonly kind = 'vector-field' as const;
  readonly label = 'linear';
  readonly times: number[] = [];
  readonly m: tf.Tensor2D;
  readonly c: tf.Tensor1D;
  constructor(
    readonly matrix: Matrix,
    readonly shift: number[],
  ) {
    this.m = tf.tensor2d(matrix);
    this.c = tf.tensor1d(shift);
  }
  evaluate(v: Field, t: number): Field {
    this.times.push(t);
    const [b, n, d] = v.values.shape;
    return v.onFeatureGrid(
      tf.tidy(() =>
        tf.reshape(tf.add(tf.matMul(tf.reshape(v.values, [b * n, d]), this.m), this.c), [b, n, this.matrix[0]!.length]),
      ),
      v.featureGrid,
    );
  }
  dispose(): void {
    tf.dispose([this.m, this.c]);
  }
}

/** A deterministic matrix with entries in [−1, 1]. */
function matrix(rows: number, cols: number, seed: number): Matrix {
  return Array.from({ length: rows }, (_, i) =>
    Array.from({ length: cols }, (_, j) => Math.sin(seed + 1.7 * i + 0.37 * j * (i + 1))),
  );
}

describeEachBackend('preNormRate', () => {
  it('equals PyTorch nn.LayerNorm (committed fixtures) followed by a hand-written rate, in float64', () => {
    for (const c of fixture.cases) {
      const d = c.weight.length;
      const inner = new LinearRate(matrix(d, d, d), matrix(1, d, 3 * d)[0]!);
      const gamma = tf.tensor1d(c.weight);
      const beta = tf.tensor1d(c.bias);
      const g = preNormRate(layerNormConstraint({ epsilon: c.eps }), affineStep(gamma, beta), inner);
      const u = field(tf.tensor3d(c.x));
      const out = g.evaluate(u, 0);
      // The reference: PyTorch's LayerNorm output y, then y M + c row by row in float64.
      const expected = c.y.map((sample) =>
        sample.map((row) => inner.shift.map((s, j) => row.reduce((acc, v, i) => acc + v * inner.matrix[i]![j]!, s))),
      );
      const scale = Math.max(1, ...expected.flat(2).map(Math.abs));
      expectClose(out.values, expected, { atol: 1e-4 * scale, rtol: 1e-4 }, c.name);
      tf.dispose([u.values, out.values, gamma, beta]);
      inner.dispose();
    }
  });

  it('is a VectorField that passes t to all three operators and keeps the grids', () => {
    const inner = new LinearRate(matrix(4, 4, 1), [0, 0, 0, 0]);
    const ln = layerNormConstraint({ mean: (t) => t, std: 2, epsilon: 1e-5 });
    const gamma = tf.ones([4]) as tf.Tensor1D;
    const beta = tf.zeros([4]) as tf.Tensor1D;
    const identity = new LinearRate(
      [
        [1, 0, 0, 0],
        [0, 1, 0, 0],
        [0, 0, 1, 0],
        [0, 0, 0, 1],
      ],
      [0, 0, 0, 0],
    );
    const g = preNormRate(ln, affineStep(gamma, beta), identity, 'pre-ln');
    expect(g.kind).toBe('vector-field');
    expect(g.label).toBe('pre-ln');
    expect(preNormRate(ln, affineStep(gamma, beta), inner).label).toBe('pre-norm(linear)');
    const u = field(
      tf.tensor3d([
        [
          [1, 2, 3, 5],
          [-1, 0, 4, 4],
        ],
      ]),
    );
    const out = g.evaluate(u, 0.75);
    expect(identity.times).toEqual([0.75]);
    const p = ln.project(u, 0.75);
    expectClose(out.values, p.values, { atol: 1e-6, rtol: 0 });
    const mean = tf.mean(out.values, -1); // σ₁(0.75) = 0.75
    expectClose(mean, [[0.75, 0.75]], { atol: 1e-5, rtol: 0 });
    expect(out.tokenGrid).toBe(u.tokenGrid);
    expect(out.featureGrid).toBe(u.featureGrid);
    tf.dispose([u.values, out.values, p.values, mean, gamma, beta]);
    inner.dispose();
    identity.dispose();
  });

  it("forwards the inner rate's embed and lists the variables of its parts", () => {
    const gamma = tf.variable(tf.ones([3]) as tf.Tensor1D);
    const inner: VectorField & { parameters(): tf.Variable[] } = {
      kind: 'vector-field',
      label: 'lifted',
      evaluate: (v) => v,
      embed: (v) => v,
      parameters: () => [gamma],
    };
    const g = preNormRate(layerNormConstraint(), affineStep(gamma, gamma), inner);
    expect(g.embed).toBeTypeOf('function');
    expect(g.parameters()).toEqual([gamma]);
    expect(
      preNormRate(layerNormConstraint(), affineStep(gamma, gamma), { ...inner, embed: undefined } as VectorField).embed,
    ).toBeUndefined();
    gamma.dispose();
  });

  it('leaves exactly its output: evaluate, a gradient, and an inner rate that throws', async () => {
    const inner = new LinearRate(matrix(5, 5, 2), matrix(1, 5, 9)[0]!);
    const gamma = tf.tensor1d([1, 2, 0.5, -1, 1]);
    const beta = tf.tensor1d([0, 0.1, 0.2, 0.3, 0.4]);
    const g = preNormRate(layerNormConstraint({ epsilon: 1e-5 }), affineStep(gamma, beta), inner);
    const u = field(tf.randomNormal([2, 3, 5], 0, 1, 'float32', 4));
    const out = await expectTensorCount(() => g.evaluate(u, 0), 1);
    out.dispose();
    await expectNoLeaks(() => tf.grad((x: tf.Tensor) => tf.sum(g.evaluate(u.withValues(x), 0).values))(u.values));
    const failing = preNormRate(layerNormConstraint({ epsilon: 1e-5 }), affineStep(gamma, beta), {
      kind: 'vector-field',
      label: 'fails',
      evaluate: () => {
        throw new Error('inner failed');
      },
    });
    await expectTensorCount(() => expect(() => failing.evaluate(u, 0)).toThrow(/inner failed/), 0);
    // An inner rate that hands its argument back keeps it: the output is the affine field, not disposed.
    const passThrough = preNormRate(layerNormConstraint({ epsilon: 1e-5 }), affineStep(gamma, beta), {
      kind: 'vector-field',
      label: 'same',
      evaluate: (v) => v,
    });
    const same = await expectTensorCount(() => passThrough.evaluate(u, 0), 1);
    expect(same.values.isDisposed).toBe(false);
    same.dispose();
    tf.dispose([u.values, gamma, beta]);
    inner.dispose();
  });
});

describe('preNormRate: bad input', () => {
  const gamma = tf.ones([3]) as tf.Tensor1D;
  const affine = affineStep(gamma, gamma);
  const ln = layerNormConstraint();
  const inner: VectorField = { kind: 'vector-field', label: 'attention', evaluate: (v) => v };

  it('names the argument of the wrong kind, what arrived and the fix', () => {
    expect(() => preNormRate(affine as never, ln as never, inner)).toThrow(DomainError);
    expect(() => preNormRate(affine as never, affine, inner)).toThrow(
      /preNormRate: projection: expected a Projection \(kind 'projection' with project\(u, t\)\), received a PointwiseStep \(kind 'pointwise'\) "affine"\. Fix: .*layerNormConstraint/,
    );
    expect(() => preNormRate(ln, ln as never, inner)).toThrow(
      /preNormRate: affine: expected a PointwiseStep .*received a Projection \(kind 'projection'\) "layer-norm"/,
    );
    expect(() => preNormRate(ln, affine, ln as never)).toThrow(
      /preNormRate: inner: expected a VectorField .*received a Projection/,
    );
    expect(() => preNormRate(ln, affine, ((v: Field) => v) as never)).toThrow(
      /preNormRate: inner: expected a VectorField .*received function/,
    );
    expect(() => preNormRate(ln, affine, { label: 'rate', evaluate: (v: Field) => v } as never)).toThrow(
      /received an object without a kind "rate"/,
    );
    expect(() => preNormRate(ln, affine, { kind: 'vector-field', label: 'x' } as never)).toThrow(
      /received a VectorField \(kind 'vector-field'\) "x" without evaluate\(\)/,
    );
    expect(() => preNormRate(ln, affine, inner, 3 as never)).toThrow(/preNormRate: label: expected a string/);
    try {
      preNormRate(ln, affine, ln as never);
    } catch (error) {
      expect(error).toMatchObject({
        subject: 'preNormRate: inner',
        received: 'a Projection (kind \'projection\') "layer-norm"',
      });
    }
  });

  it('refuses a value that is not a Field, and a field of the wrong width', () => {
    const g = preNormRate(ln, affine, inner);
    expect(() => g.evaluate(tf.ones([1, 2, 3]) as never, 0)).toThrow(ShapeError);
    const wide = field(tf.ones([1, 2, 4]));
    const before = tf.memory().numTensors;
    expect(() => g.evaluate(wide, 0)).toThrow(/a field with 3 features/);
    expect(tf.memory().numTensors).toBe(before);
    wide.dispose();
  });
});
