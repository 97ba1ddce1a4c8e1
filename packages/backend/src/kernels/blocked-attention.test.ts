// The blocked core equals the plain N×N core (forward and gradient) on uniform, causal, padded and
// non-uniform weights with ragged blocks, leaks nothing, and keeps peak memory ∝ N·block.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { describeEachBackend, expectClose, expectNoLeaks, peakBytesOf } from '../testing/index.js';
import { BackendError } from '../errors.js';
import { blockedAttention, defaultAttentionBlock } from './blocked-attention.js';
import { PARITY_CASES, coreGradients, disposeCore, plainAttentionCore, randomCore } from './reference.fixture.js';

describeEachBackend('blockedAttention', () => {
  const n = 37; // not a multiple of the block: ragged last blocks

  it.each(PARITY_CASES)('$name: forward and gradients equal the plain core (1e-4 relative)', (c) => {
    const core = randomCore(2, 2, n, 8, 6, c.weights(n), c.causal, 11);
    const dy = tf.randomNormal([2, 2, n, 6], 0, 1, 'float32', 5);
    for (const block of [8, 16, 64]) {
      const plain = plainAttentionCore(core);
      const blocked = blockedAttention(core, block);
      expectClose(blocked, plain, { atol: 1e-5, rtol: 1e-4 }, `${c.name}, block ${block}`);
      const gp = coreGradients(plainAttentionCore, core, dy);
      const gb = coreGradients((x) => blockedAttention(x, block), core, dy);
      gp.forEach((g, i) =>
        expectClose(gb[i]!, g, { atol: 1e-5, rtol: 1e-4 }, `${c.name}, block ${block}: gradient ${'qkv'[i]}`),
      );
      tf.dispose([plain, blocked, ...gp, ...gb]);
    }
    tf.dispose(dy);
    disposeCore(core);
  });

  it('leaves only its output, with and without a gradient', async () => {
    const core = randomCore(1, 2, 20, 4, 4, [Array.from({ length: 20 }, () => 0.05)], true, 21);
    await expectNoLeaks(() => blockedAttention(core, 6));
    await expectNoLeaks(() =>
      tf.grad((q: tf.Tensor) => tf.sum(blockedAttention({ ...core, q: q as tf.Tensor4D }, 6)))(core.q),
    );
    disposeCore(core);
  });

  it('refuses mismatched shapes and a bad block with a BackendError', () => {
    const core = randomCore(1, 1, 5, 4, 4, [[1, 1, 1, 1, 1]], false);
    const wrongWeights = { ...core, logWeights: tf.zeros([1, 4]) as tf.Tensor2D };
    expect(() => blockedAttention(wrongWeights)).toThrow(BackendError);
    expect(() => blockedAttention(wrongWeights)).toThrow(/logWeights \[1, 4\]/);
    expect(() => blockedAttention(core, 0)).toThrow(/block: expected an integer ≥ 1 \(queries per block\), received 0/);
    expect(() => blockedAttention({ ...core, scale: -1 })).toThrow(/positive finite scale/);
    expect(() => blockedAttention(null as never)).toThrow(BackendError);
    tf.dispose(wrongWeights.logWeights);
    disposeCore(core);
  });
});

describe('blockedAttention: memory', () => {
  it('at 2 048 tokens the blocked core peaks far below the N×N kernel (one head, d = 8)', async () => {
    const n = 2048;
    const core = randomCore(1, 1, n, 8, 8, [Array.from({ length: n }, () => 1 / n)], true, 31);
    const kernelBytes = n * n * 4;
    const plain = await peakBytesOf(() => plainAttentionCore(core));
    const blocked = await peakBytesOf(() => blockedAttention(core, 64));
    const twice = await peakBytesOf(() => blockedAttention(core, 128));
    expect(plain).toBeGreaterThan(kernelBytes); // the plain core materialises the N×N kernel
    expect(blocked).toBeLessThan(kernelBytes / 4);
    expect(blocked).toBeLessThan(0.7 * twice); // ∝ N·block: half the block, about half the peak
    disposeCore(core);
  });
});

describe('defaultAttentionBlock', () => {
  it('aims at 2²² scores per block over all (sample, head) rows, between 16 queries and N', () => {
    expect(defaultAttentionBlock(256)).toBe(256);
    expect(defaultAttentionBlock(4096)).toBe(1024);
    expect(defaultAttentionBlock(16384)).toBe(256);
    expect(defaultAttentionBlock(1 << 20)).toBe(16);
    expect(defaultAttentionBlock(7)).toBe(7);
    expect(defaultAttentionBlock(4096, 8)).toBe(128); // 8 heads: 8 · 128 · 4096 = 2²²
    expect(defaultAttentionBlock(1024, 12)).toBe(341);
  });

  it('refuses a token or row count that is not a positive integer', () => {
    expect(() => defaultAttentionBlock(0)).toThrow(/defaultAttentionBlock: tokens: expected an integer ≥ 1/);
    expect(() => defaultAttentionBlock(2.5)).toThrow(BackendError);
    expect(() => defaultAttentionBlock(64, 0)).toThrow(/defaultAttentionBlock: rows: expected an integer ≥ 1/);
    expect(() => defaultAttentionBlock(64, 1.5)).toThrow(/defaultAttentionBlock: rows/);
  });
});
