import { describe, expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { describeEachBackend, expectClose, expectTensorCount } from '@tide/backend/testing';
import { ShapeError, field } from '@tide/domain';
import { affineStep } from './affine-step.js';

describeEachBackend('affine sub-step', () => {
  it('computes γ(y)·u + β(y) per feature and leaves one tensor', async () => {
    const gamma = tf.tensor1d([1, 2, -1]);
    const beta = tf.tensor1d([0, 0.5, 1]);
    const u = field(
      tf.tensor3d([
        [
          [1, 1, 1],
          [2, 3, 4],
        ],
      ]),
    );
    const step = affineStep(gamma, beta);
    expect(step.kind).toBe('pointwise');
    const v = await expectTensorCount(() => step.apply(u, 0), 1);
    expectClose(v.values, [
      [
        [1, 2.5, 0],
        [2, 6.5, -3],
      ],
    ]);
    tf.dispose([gamma, beta, u.values, v.values]);
  });
});

describe('affine sub-step: bad input', () => {
  it('checks ranks, lengths and the field width', () => {
    const g = tf.ones([3]) as tf.Tensor1D;
    expect(() => affineStep(g, tf.ones([2]) as tf.Tensor1D)).toThrow(
      /gamma and beta of equal length, received gamma \[3\], beta \[2\]/,
    );
    expect(() => affineStep(tf.ones([3, 1]) as never, g)).toThrow(ShapeError);
    const u = field(tf.ones([1, 2, 4]));
    expect(() => affineStep(g, g).apply(u, 0)).toThrow(/a field with 3 features.*received \[1, 2, 4\]/);
    tf.dispose([g, u.values]);
  });
});
