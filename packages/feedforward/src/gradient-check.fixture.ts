// Test helper: analytic gradients against central differences.
import { expect } from 'vitest';
import { tf } from '@tide/backend';

/**
 * Checks `tf.grads(loss)` against central differences (step 1e-2) along a seeded random direction, for each
 * argument: |analytic − difference| < 1e-2·max(1, |difference|). Leaves no tensors behind.
 */
export function expectGradientsMatchDifferences(
  loss: (...xs: tf.Tensor[]) => tf.Tensor,
  args: tf.Tensor[],
  label: string,
  seed = 20,
): void {
  const grads = tf.grads(loss as (...xs: tf.Tensor[]) => tf.Scalar)(args);
  args.forEach((arg, i) => {
    const dir = tf.randomNormal(arg.shape, 0, 1, 'float32', seed + i);
    const h = 1e-2;
    const at = (s: number) =>
      tf.tidy(() => loss(...args.map((a, j) => (j === i ? tf.add(a, tf.mul(dir, s)) : a))).dataSync()[0]!);
    const fd = (at(h) - at(-h)) / (2 * h);
    const analytic = tf.tidy(() => tf.sum(tf.mul(grads[i]!, dir)).dataSync()[0]!);
    expect(Math.abs(analytic - fd), `${label}: argument ${i} (fd ${fd}, analytic ${analytic})`).toBeLessThan(
      1e-2 * Math.max(1, Math.abs(fd)),
    );
    dir.dispose();
  });
  tf.dispose(grads);
}
