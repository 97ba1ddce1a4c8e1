// hostTensor: the values fill writes, on every backend; nothing left behind, also when fill throws; bad input refused.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { describeEachBackend, expectNoLeaks } from './testing/index.js';
import { BackendError } from './errors.js';
import { hostTensor } from './host-tensor.js';

describeEachBackend('hostTensor', () => {
  it('holds what fill wrote, in the shape given (also of size 0)', () => {
    const t = hostTensor([2, 3], (out) => out.forEach((_, i) => (out[i] = i * 1.5 - 1)));
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe('float32');
    expect(Array.from(t.dataSync())).toEqual([-1, 0.5, 2, 3.5, 5, 6.5]);
    const sum = tf.sum(t); // usable by kernels
    expect(sum.dataSync()[0]).toBeCloseTo(16.5, 5);
    tf.dispose([t, sum]);
    const empty = hostTensor([0, 4], () => undefined);
    expect(empty.shape).toEqual([0, 4]);
    empty.dispose();
  });

  it('leaves only its tensor, and nothing when fill throws', async () => {
    await expectNoLeaks(() => hostTensor([64, 8], (out) => out.fill(2)));
    const before = tf.memory().numTensors;
    const bytes = tf.memory().numBytes;
    expect(() =>
      hostTensor([4], () => {
        throw new Error('bad data');
      }),
    ).toThrow('bad data');
    expect(tf.memory().numTensors).toBe(before);
    expect(tf.memory().numBytes).toBe(bytes);
  });
});

describe('hostTensor: input', () => {
  it('refuses a bad shape or fill with a BackendError', () => {
    expect(() => hostTensor([2, -1], () => undefined)).toThrow(
      /hostTensor: shape: expected an array of non-negative integers/,
    );
    expect(() => hostTensor([2.5], () => undefined)).toThrow(BackendError);
    for (const shape of ['2', [NaN], [Infinity], null]) {
      expect(() => hostTensor(shape as never, () => undefined)).toThrow(BackendError);
    }
    expect(() => hostTensor([2], null as never)).toThrow(/hostTensor: fill: expected a function/);
  });
});
