import { describe, expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { describeEachBackend, expectClose, expectNoLeaks, expectTensorCount } from '@tide/backend/testing';
import { ShapeError, field } from '@tide/domain';
import {
  FeatureIncrement,
  featureTransform,
  fromIncrement,
  fromTorchLinear,
  toIncrement,
} from './feature-transform.js';
import { embedFeatures, embeddingMatrix } from './lift.js';
import fixture from './fixtures/activations.json' with { type: 'json' };
import { expectGradientsMatchDifferences } from './gradient-check.fixture.js';

describeEachBackend('feature-integral transform', () => {
  it('equals PyTorch nn.Linear (weight transposed from [out, in])', async () => {
    const w = tf.tensor2d(fixture.linear.weight);
    const kernel = await expectTensorCount(() => fromTorchLinear(w), 1);
    const b = tf.tensor1d(fixture.linear.bias);
    const u = field(tf.tensor3d(fixture.linear.u));
    const y = await expectTensorCount(() => featureTransform(u, kernel, b), 1);
    expect(y.featureGrid.size).toBe(7);
    expectClose(y.values, fixture.linear.y, { atol: 1e-5, rtol: 1e-5 });
    tf.dispose([w, kernel, b, u.values, y.values]);
  });

  it('increment form: J u + (u W + b) = u W^std + b for d_out = d, d_out > d (lift E) and d_out < d (restriction R)', () => {
    for (const [dIn, dOut] of [
      [4, 4],
      [3, 8],
      [8, 3],
    ] as const) {
      const std = tf.randomNormal([dIn, dOut], 0, 1, 'float32', dIn * 10 + dOut) as tf.Tensor2D;
      const b = tf.randomNormal([dOut], 0, 1, 'float32', 7) as tf.Tensor1D;
      const inc = toIncrement(std);
      expectClose(fromIncrement(inc), std, { atol: 1e-6, rtol: 1e-6 }, 'round trip');
      const u = field(tf.randomNormal([2, 5, dIn], 0, 1, 'float32', 3) as tf.Tensor3D);
      const op = new FeatureIncrement(inc, b);
      expect(op.embed === undefined).toBe(dIn === dOut);
      const embedded = op.embed ? op.embed(u) : u;
      const rate = op.evaluate(u, 0);
      const stepped = tf.add(embedded.values, rate.values); // Δt = 1
      const standard = featureTransform(u, std, b);
      expectClose(stepped, standard.values, { atol: 1e-5, rtol: 1e-5 }, `${dIn} → ${dOut}`);
      tf.dispose([
        std,
        b,
        inc,
        u.values,
        rate.values,
        stepped,
        standard.values,
        ...(op.embed ? [embedded.values] : []),
      ]);
    }
  });

  it('the lift E is an isometry and R E = I; E R is the projection onto the original domain', async () => {
    const u = field(tf.randomNormal([1, 3, 4], 0, 1, 'float32', 11) as tf.Tensor3D);
    const lifted = await expectTensorCount(() => embedFeatures(u, 9), 1);
    expect(lifted.featureGrid.size).toBe(9);
    const norm = (t: tf.Tensor) => tf.sum(tf.square(t)).dataSync()[0]!;
    expect(norm(lifted.values)).toBeCloseTo(norm(u.values), 4);
    const back = embedFeatures(lifted, 4);
    expectClose(back.values, u.values, { atol: 0, rtol: 0 });
    const e = embeddingMatrix(4, 9);
    const r = embeddingMatrix(9, 4);
    expectClose(tf.matMul(e, r), tf.eye(4), { atol: 0, rtol: 0 });
    tf.dispose([u.values, lifted.values, back.values, e, r]);
  });

  it('gradients with respect to u, W and b match central differences; no leaks', async () => {
    const u = field(tf.randomNormal([1, 3, 4], 0, 1, 'float32', 2) as tf.Tensor3D);
    const w = tf.randomNormal([4, 6], 0, 1, 'float32', 3) as tf.Tensor2D;
    const b = tf.randomNormal([6], 0, 1, 'float32', 4) as tf.Tensor1D;
    const c = tf.randomNormal([1, 3, 6], 0, 1, 'float32', 5);
    const loss = (x: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) =>
      tf.sum(
        tf.mul(
          tf.tanh(featureTransform(u.withValues(x as tf.Tensor3D), ww as tf.Tensor2D, bb as tf.Tensor1D).values),
          c,
        ),
      );
    expectGradientsMatchDifferences(loss as (...xs: tf.Tensor[]) => tf.Tensor, [u.values, w, b], 'featureTransform');
    await expectNoLeaks(() => tf.grads(loss)([u.values, w, b]));
    await expectNoLeaks(() => new FeatureIncrement(w, b).evaluate(u, 0).values);
    tf.dispose([u.values, w, b, c]);
  });
});

describe('feature-integral transform: bad input', () => {
  it('names the kernel shape, the bias and the fix', () => {
    const u = field(tf.ones([1, 2, 3]));
    const w = tf.ones([4, 5]) as tf.Tensor2D;
    expect(() => featureTransform(u, w)).toThrow(/weight: expected 3 rows.*received \[4, 5\].*transpose PyTorch/);
    const w3 = tf.ones([3, 5]) as tf.Tensor2D;
    expect(() => featureTransform(u, w3, tf.ones([4]) as tf.Tensor1D)).toThrow(
      /bias: expected a 1-D bias of shape \[5\]/,
    );
    expect(() => featureTransform(u, tf.ones([3]) as never)).toThrow(ShapeError);
    expect(() => featureTransform({} as never, w3)).toThrow(/expected a Field/);
    expect(() => embedFeatures(u, 0)).toThrow();
    expect(() => embeddingMatrix(2.5, 3)).toThrow(/dIn: expected a positive integer width, received 2.5/);
    tf.dispose([u.values, w, w3]);
  });
});
