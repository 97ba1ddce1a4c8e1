// Patch lifting: equals PyTorch's Conv2d(kernel = stride = p) (tfjs conv2d as the peer here; the checkpoints'
// parity tests compare with PyTorch itself), raster order on the patch grid, gradients against finite
// differences, pixels refused with a typed error, no leaks.
import { expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { describeEachBackend, expectClose, expectNoLeaks } from '@tide/backend/testing';
import { ImageInputError } from './errors.js';
import { checkPixels, liftPatches } from './patch-lifting.js';

const lift = () => ({
  weight: tf.randomNormal([5, 3, 4, 4], 0, 0.3, 'float32', 1) as tf.Tensor4D,
  bias: tf.randomNormal([5], 0, 0.1, 'float32', 2) as tf.Tensor1D,
});

describeEachBackend('patch lifting', () => {
  it('is the strided convolution with patch support, on the patch grid in raster order', async () => {
    const p = lift();
    const pixels = tf.randomNormal([2, 3, 8, 12], 0, 1, 'float32', 3) as tf.Tensor4D;
    const u = liftPatches(pixels, p);
    expect(u.values.shape).toEqual([2, 6, 5]);
    expect(u.tokenGrid.layout).toEqual({ rows: 2, cols: 3, leading: 0 });
    const peer = tf.tidy(() => {
      const y = tf.conv2d(
        tf.transpose(pixels, [0, 2, 3, 1]) as tf.Tensor4D,
        tf.transpose(p.weight, [2, 3, 1, 0]) as tf.Tensor4D,
        4,
        'valid',
      ); // [B, 2, 3, 5]
      return tf.reshape(tf.add(y, p.bias), [2, 6, 5]);
    });
    expectClose(u.values, peer, { rtol: 1e-5, atol: 1e-5 });
    await expectNoLeaks(() => [liftPatches(pixels, p).values]);
    tf.dispose([u.values, peer, pixels, p.weight, p.bias]);
  });

  it('refuses pixels that do not fit, naming what was expected', () => {
    const bad: [tf.Tensor, RegExp][] = [
      [tf.zeros([3, 8, 8]), /images \[B, 3, H, W\]/],
      [tf.zeros([1, 8, 8, 3]), /channels-last/],
      [tf.zeros([1, 1, 8, 8]), /3 channels/],
      [tf.zeros([1, 3, 10, 8]), /multiples of the patch size 4/],
      [tf.zeros([1, 3, 8, 8], 'int32'), /float32/],
      [tf.fill([1, 3, 8, 8], NaN), /finite/],
    ];
    const before = tf.memory().numTensors;
    for (const [x, message] of bad) {
      expect(() => checkPixels(x, 3, 4)).toThrow(ImageInputError);
      expect(() => checkPixels(x, 3, 4)).toThrow(message);
    }
    expect(() => checkPixels('x' as never, 3, 4)).toThrow(ImageInputError);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(bad.map(([x]) => x));
  });
});

it('gradients with respect to pixels and kernel match central finite differences (cpu)', async () => {
  await tf.setBackend('cpu');
  const p = lift();
  const pixels = tf.randomNormal([1, 3, 8, 8], 0, 1, 'float32', 5) as tf.Tensor4D;
  const c = tf.randomNormal([1, 4, 5], 0, 1, 'float32', 6);
  const loss = (x: tf.Tensor, w: tf.Tensor) =>
    tf.sum(tf.mul(liftPatches(x as tf.Tensor4D, { weight: w as tf.Tensor4D, bias: p.bias }).values, c)) as tf.Scalar;
  const grads = tf.grads(loss)([pixels, p.weight]);
  const eps = 1e-2;
  [pixels, p.weight].forEach((a, i) => {
    const dir = tf.randomNormal(a.shape, 0, 1, 'float32', 20 + i);
    const at = (h: number) =>
      tf.tidy(() => {
        const moved = tf.add(a, tf.mul(dir, h));
        return loss(i === 0 ? moved : pixels, i === 1 ? moved : p.weight).dataSync()[0]!;
      });
    const fd = (at(eps) - at(-eps)) / (2 * eps);
    const analytic = tf.tidy(() => tf.sum(tf.mul(grads[i]!, dir)).dataSync()[0]!);
    expect(Math.abs(analytic - fd)).toBeLessThan(1e-2 * Math.max(1, Math.abs(fd)));
    dir.dispose();
  });
  tf.dispose([...grads, c, pixels, p.weight, p.bias]);
});
