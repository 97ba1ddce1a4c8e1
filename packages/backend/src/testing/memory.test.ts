import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { peakBytesOf } from './memory.js';

describe('peakBytesOf', () => {
  it('counts what the operation allocates, not what was alive before', async () => {
    const alive = tf.zeros([1000]); // 4 000 bytes that must not count
    const peak = await peakBytesOf(() => tf.tidy(() => tf.add(tf.ones([256]), 1)));
    expect(peak).toBeGreaterThanOrEqual(2 * 256 * 4); // the ones and the sum were alive together
    expect(peak).toBeLessThan(4000);
    alive.dispose();
  });
});
