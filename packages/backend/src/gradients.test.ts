import { expect, it } from 'vitest';
import { tf } from './index.js';
import { describeEachBackend } from './testing/index.js';
import { expectClose } from './testing/index.js';

describeEachBackend('gradients are registered', () => {
  it('differentiates matMul, softmax, sum, log, erf, where and reshape', () => {
    const x = tf.tensor2d([
      [0.5, -1, 2],
      [1, 0.25, -0.5],
    ]);
    const w = tf.tensor2d([
      [1, 0, 0.5],
      [0, 1, -1],
      [1, 1, 0],
    ]);
    // tfjs has no gradient for comparisons: a where() condition must not depend on the differentiated input.
    const positive = tf.greater(
      tf.tensor2d([
        [1, -1, 1],
        [1, 1, -1],
      ]),
      0,
    );
    const f = (a: tf.Tensor) =>
      tf.sum(
        tf.mul(
          tf.log(tf.add(tf.softmax(tf.matMul(tf.reshape(a, [2, 3]), w)), 1)),
          tf.erf(tf.where(positive, a, tf.mul(a, 2))),
        ),
      );
    const g = tf.grad(f)(x);
    // Central differences in float32 with a coarse step.
    const h = 1e-2;
    const data = Array.from(x.dataSync());
    const fd = data.map((_, i) => {
      const plus = data.slice();
      const minus = data.slice();
      plus[i]! += h;
      minus[i]! -= h;
      return tf.tidy(
        () => (f(tf.tensor2d(plus, [2, 3])).dataSync()[0]! - f(tf.tensor2d(minus, [2, 3])).dataSync()[0]!) / (2 * h),
      );
    });
    expectClose(g, fd, { atol: 2e-3, rtol: 2e-2 });
    tf.dispose([x, w, g, positive]);
  });
});

it('gradients come from tfjs-core itself; registering again is a no-op', async () => {
  const { gradientsRegistered, registerGradients } = await import('./gradients.js');
  expect(gradientsRegistered()).toBe(true);
  await registerGradients();
  await registerGradients();
  expect(tf.getGradient('Erf')).toBeDefined();
  expect(tf.getGradient('Softmax')).toBeDefined();
});
