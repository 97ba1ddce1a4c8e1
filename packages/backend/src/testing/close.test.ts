import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { closeness, expectClose } from './close.js';

describe('closeness', () => {
  it('uses atol + rtol·|expected|', () => {
    expect(closeness([1000], [1000.5], { atol: 0, rtol: 1e-3 }).ok).toBe(true);
    expect(closeness([1000], [1002], { atol: 0, rtol: 1e-3 }).ok).toBe(false);
    expect(closeness([0.5], [0], { atol: 1, rtol: 0 }).ok).toBe(true);
  });

  it('treats NaN and infinities exactly (tfjs lets NaN equal Infinity)', () => {
    expect(closeness([NaN], [NaN]).ok).toBe(true);
    expect(closeness([Infinity], [Infinity]).ok).toBe(true);
    expect(closeness([NaN], [Infinity]).ok).toBe(false);
    expect(closeness([-Infinity], [Infinity]).ok).toBe(false);
    expect(closeness([1e30], [Infinity], { atol: 1e300 }).ok).toBe(false);
    expect(closeness([NaN], [0], { atol: 1e300 }).ok).toBe(false);
  });

  it('reports the worst index, not the first', () => {
    const r = closeness([0, 0.2, 5, 0.3], [0, 0, 0, 0], { atol: 0.1, rtol: 0 });
    expect(r.ok).toBe(false);
    expect(r.worstIndex).toBe(2);
    expect(r.maxAbsDiff).toBe(5);
    expect(r.reason).toMatch(/worst at index 2: actual 5, expected 0/);
  });

  it('compares tensor shapes and nested arrays, and accepts flat data for a tensor', () => {
    const t = tf.tensor2d([
      [1, 2],
      [3, 4],
    ]);
    expect(
      closeness(t, [
        [1, 2],
        [3, 4],
      ]).ok,
    ).toBe(true);
    expect(closeness(t, new Float32Array([1, 2, 3, 4])).ok).toBe(true);
    const u = tf.tensor1d([1, 2, 3, 4]);
    expect(closeness(t, u).reason).toMatch(/shape mismatch: actual \[2, 2\].*expected \[4\]/);
    expect(closeness([1, 2], [1, 2, 3]).ok).toBe(false);
    expect(() => closeness([[1], [1, 2]], [1])).toThrow(/ragged/);
    tf.dispose([t, u]);
  });

  it('expectClose throws with the label and reason', () => {
    expect(() => expectClose([1], [2], {}, 'logits')).toThrow(/^logits: .*worst at index 0/);
    expect(() => expectClose(1, 1 + 1e-7)).not.toThrow();
  });
});
