import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { expectNoLeaks, expectTensorCount } from './leaks.js';

describe('leak checks', () => {
  it('expectTensorCount counts survivors exactly', async () => {
    const t = await expectTensorCount(() => tf.tidy(() => tf.add(tf.ones([2]), 1)), 1);
    t.dispose();
    await expect(expectTensorCount(() => tf.ones([2]), 0, 'leaky op')).rejects.toThrow(
      /leaky op: expected 0 surviving tensor\(s\), found 1/,
    );
    await expect(expectTensorCount(() => undefined, 1)).rejects.toThrow(/found 0/);
  });

  it('expectNoLeaks disposes returned tensors in nested results and catches hidden ones', async () => {
    await expectNoLeaks(() => ({ a: tf.ones([2]), b: [tf.zeros([3])], c: 1 }));
    let hidden: tf.Tensor | undefined;
    await expect(
      expectNoLeaks(() => {
        hidden = tf.ones([1]);
        return tf.ones([1]);
      }),
    ).rejects.toThrow(/leaked 1 tensor/);
    hidden?.dispose();
  });
});
