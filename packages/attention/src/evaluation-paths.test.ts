// Every evaluation path (blocked on each backend, fused on webgl) equals the plain path through the whole
// operator (feature maps, heads, output kernel), forward and gradient, on causal, padded and non-uniform grids;
// leaks nothing; and keeps peak memory ∝ N·block instead of N². 'auto' picks the path documented.
import { describe, expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { describeEachBackend, expectClose, expectNoLeaks, peakBytesOf } from '@tide/backend/testing';
import { ShapeError, field, gaussLegendreRule, interval } from '@tide/domain';
import { attentionPath, blockedThreshold, integralAttention } from './integral-attention.js';
import { BLOCKED_THRESHOLD, type AttentionParameters } from './parameters.js';

const D = 8;
function params(seed: number): AttentionParameters {
  const w = (s: number) => tf.randomNormal([D, D], 0, 0.6, 'float32', seed * 10 + s) as tf.Tensor2D;
  const b = (s: number) => tf.randomNormal([D], 0, 0.1, 'float32', seed * 10 + s) as tf.Tensor1D;
  return { wq: w(1), wk: w(2), wv: w(3), wo: w(4), bq: b(5), bk: b(6), bv: b(7), bo: b(8) };
}

describeEachBackend('attention evaluation paths', (backend) => {
  const fast = backend === 'webgl' ? 'fused' : 'blocked';
  const n = 37; // not a multiple of the block: ragged last blocks
  const grid = gaussLegendreRule(interval(0, 5), n);
  const weights = [Array.from(grid.weights), Array.from(grid.weights, (w, i) => (i >= 30 ? 0 : w))];
  const cases = [
    { name: 'uniform', opts: {} },
    { name: 'causal, Gauss–Legendre, padded', opts: { causal: true }, grid: true },
    { name: 'non-uniform, padded', opts: {}, grid: true },
  ] as const;

  it.each(cases)("$name: the fast path's forward and gradients equal the plain path (1e-4 relative)", (c) => {
    const p = params(3);
    const x = tf.randomNormal([2, n, D], 0, 1, 'float32', 7) as tf.Tensor3D;
    const make = (values: tf.Tensor) =>
      'grid' in c
        ? field(values as tf.Tensor3D, { tokenGrid: grid, tokenWeights: weights })
        : field(values as tf.Tensor3D);
    const u = make(tf.clone(x));
    const plain = integralAttention(u, p, { heads: 2, ...c.opts, implementation: 'plain' });
    const blocked = integralAttention(u, p, { heads: 2, ...c.opts, implementation: fast, block: 8 });
    expectClose(blocked.values, plain.values, { atol: 1e-5, rtol: 1e-4 }, c.name);
    const dy = tf.randomNormal([2, n, D], 0, 1, 'float32', 9);
    const grads = (impl: 'plain' | 'blocked' | 'fused') =>
      tf.grads((xs: tf.Tensor, wq: tf.Tensor, wk: tf.Tensor, wv: tf.Tensor) =>
        tf.sum(
          tf.mul(
            integralAttention(
              make(xs),
              { ...p, wq: wq as tf.Tensor2D, wk: wk as tf.Tensor2D, wv: wv as tf.Tensor2D },
              { heads: 2, ...c.opts, implementation: impl, block: 8 },
            ).values,
            dy,
          ),
        ),
      )([x, p.wq, p.wk, p.wv]);
    const gp = grads('plain');
    const gb = grads(fast);
    gp.forEach((g, i) => expectClose(gb[i]!, g, { atol: 1e-4, rtol: 1e-3 }, `${c.name}: gradient ${i}`));
    tf.dispose([x, u.values, plain.values, blocked.values, dy, ...gp, ...gb, ...(Object.values(p) as tf.Tensor[])]);
  });

  it('leaves only its output, with and without a gradient', async () => {
    const p = params(4);
    const u = field(tf.randomNormal([1, 20, D], 0, 1, 'float32', 1) as tf.Tensor3D);
    await expectNoLeaks(() => integralAttention(u, p, { causal: true, implementation: fast, block: 6 }).values);
    await expectNoLeaks(() =>
      tf.grad((xs: tf.Tensor) =>
        tf.sum(integralAttention(u.withValues(xs as tf.Tensor3D), p, { implementation: fast, block: 6 }).values),
      )(u.values),
    );
    tf.dispose([u.values, ...(Object.values(p) as tf.Tensor[])]);
  });

  it("'auto' takes the documented path", () => {
    expect(attentionPath({}, 64)).toBe(backend === 'webgl' ? 'fused' : 'plain');
    expect(attentionPath({}, 4096)).toBe(fast);
    expect(attentionPath({ implementation: 'plain' }, 4096)).toBe('plain');
  });

  it('blockedThreshold: the threshold of the active backend, or of a named one', () => {
    expect(blockedThreshold()).toBe(backend === 'wasm' ? BLOCKED_THRESHOLD.wasm : BLOCKED_THRESHOLD.cpu);
    expect(blockedThreshold('wasm')).toBe(128);
    expect(blockedThreshold('cpu')).toBe(512);
    if (backend !== 'webgl') {
      expect(attentionPath({}, blockedThreshold())).toBe('plain');
      expect(attentionPath({}, blockedThreshold() + 1)).toBe('blocked');
    }
    expect(() => blockedThreshold('')).toThrow(/blockedThreshold: backend: expected a backend name/);
    expect(() => blockedThreshold(3 as never)).toThrow(ShapeError);
  });

  it('attentionPath refuses a bad implementation, block or token count', () => {
    expect(() => attentionPath({ implementation: 'fast' as never }, 64)).toThrow(
      /implementation: expected 'plain', 'blocked', 'fused' or 'auto'/,
    );
    expect(() => attentionPath({ block: 0 }, 64)).toThrow(ShapeError);
    expect(() => attentionPath({}, 0)).toThrow(/attentionPath: tokens: expected an integer ≥ 1/);
    expect(() => attentionPath(null as never, 64)).toThrow(ShapeError);
  });
});

describe('attention evaluation paths: memory', () => {
  it('at 2 048 tokens the blocked path peaks far below the N×N kernel (one head, d = 8)', async () => {
    const n = 2048;
    const p = params(5);
    const u = field(tf.randomNormal([1, n, D], 0, 1, 'float32', 2) as tf.Tensor3D);
    const kernelBytes = n * n * 4;
    const peak = (impl: 'plain' | 'blocked') =>
      peakBytesOf(() => integralAttention(u, p, { implementation: impl, block: 64 }).values);
    const plain = await peak('plain');
    const blocked = await peak('blocked');
    expect(plain).toBeGreaterThan(kernelBytes); // the plain path materialises the N×N kernel
    expect(blocked).toBeLessThan(kernelBytes / 4); // ∝ N·block
    tf.dispose([u.values, ...(Object.values(p) as tf.Tensor[])]);
  });

  it('refuses a bad implementation or block', () => {
    const p = params(6);
    const u = field(tf.zeros([1, 3, D]) as tf.Tensor3D);
    expect(() => integralAttention(u, p, { implementation: 'fast' as never })).toThrow(ShapeError);
    expect(() => integralAttention(u, p, { implementation: 'blocked', block: 0 })).toThrow(
      /block: expected an integer ≥ 1, received 0/,
    );
    if (tf.getBackend() !== 'webgl')
      expect(() => integralAttention(u, p, { implementation: 'fused' })).toThrow(/expected the webgl backend/);
    tf.dispose([u.values, ...(Object.values(p) as tf.Tensor[])]);
  });
});
