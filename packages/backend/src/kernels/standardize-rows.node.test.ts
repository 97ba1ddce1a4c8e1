// The fused LayerNorm projection on wasm equals the composite projection (mean, variance, rsqrt and the tie-break
// branch as tfjs ops, on cpu) in values and gradients for any row length, ε and tie-broken rows; answers undefined
// off wasm; leaves only its output; and refuses bad arguments with a BackendError.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import { BackendError } from '../errors.js';
import { expectClose, expectNoLeaks } from '../testing/index.js';
import { initEngine } from '../engine.js';
import { onCpuAndWasm } from './cpu-wasm.fixture.js';
import { standardizeRowsFused } from './standardize-rows.js';
import { useWasmSimdKernels } from './wasm-simd.js';

/** The composite projection (docs/projections.md) with tfjs ops: the reference the kernels must equal. */
function composite(x: tf.Tensor, eps: number, direction: Float32Array): tf.Tensor {
  return tf.tidy(() => {
    const mean = tf.mean(x, -1, true);
    const c = tf.sub(x, mean);
    const v = tf.mean(tf.square(c), -1, true);
    if (eps > 0) return tf.mul(c, tf.rsqrt(tf.add(v, eps)));
    const degenerate = tf.step(tf.sub(tf.add(tf.mul(tf.square(mean), 1e-10), 1e-30), v));
    const regular = tf.mul(c, tf.rsqrt(tf.maximum(v, 1e-30)));
    return tf.add(tf.mul(tf.sub(1, degenerate), regular), tf.mul(degenerate, tf.tensor1d(direction)));
  });
}

/** A zero-mean, unit-mean-square ramp of n values (the tie-break direction of a uniform grid). */
function ramp(n: number): Float32Array {
  const r = Array.from({ length: n }, (_, j) => j - (n - 1) / 2);
  const ms = r.reduce((a, v) => a + v * v, 0) / n;
  return Float32Array.from(r, (v) => v / Math.sqrt(ms || 1));
}

/** Rows of varied scale and offset; every third row constant (tie-broken when ε = 0). */
function rows(count: number, n: number, seed: number): number[] {
  return Array.from({ length: count * n }, (_, i) => {
    const row = Math.floor(i / n);
    if (row % 3 === 2) return 0.25 * row;
    return (1 + row) * Math.sin(seed + 0.91 * i) + 3 * Math.cos(row);
  });
}

/**
 * Expects wasm's results to equal cpu's: values to 2e-5 + 1e-4 relative; gradients row by row to 2e-5 of the row's
 * largest magnitude (a near-constant row with ε > 0 has gradients of order 1/√ε, whose rounding is absolute) + 1e-4
 * relative.
 */
function expectAgree(res: Awaited<ReturnType<typeof both>>): void {
  const values = res.cpu[0]!.values as Float32Array;
  expectClose(res.wasm[0]!.values as Float32Array, values, { atol: 2e-5, rtol: 1e-4 }, 'values');
  const n = res.cpu[1]!.shape.at(-1)!;
  const want = res.cpu[1]!.values as Float32Array;
  const got = res.wasm[1]!.values as Float32Array;
  for (let r = 0; r * n < want.length; r++) {
    const row = want.subarray(r * n, (r + 1) * n);
    const scale = Math.max(1, ...Array.from(row, (v) => (Number.isFinite(v) ? Math.abs(v) : 0)));
    expectClose(got.subarray(r * n, (r + 1) * n), row, { atol: 2e-5 * scale, rtol: 1e-4 }, `gradient, row ${r}`);
  }
}

/** Fused on wasm, composite on cpu: values and the gradient of Σ y ⊙ dy. */
async function both(shape: number[], eps: number, seed: number) {
  const n = shape.at(-1)!;
  const count = shape.slice(0, -1).reduce((p, s) => p * s, 1);
  const x = rows(count, n, seed);
  const dy = rows(count, n, seed + 5).map((v, i) => v + 0.1 * i);
  const dir = ramp(n);
  return onCpuAndWasm(() => {
    const f = (t: tf.Tensor) => {
      const fused = standardizeRowsFused(t, eps, eps > 0 ? undefined : dir);
      // On wasm the fused kernels must run (else this would compare the composite with itself).
      if ((fused === undefined) !== (tf.getBackend() === 'cpu')) throw new Error(`fused on ${tf.getBackend()}?`);
      return fused ?? composite(t, eps, dir);
    };
    const t = tf.tensor(x, shape);
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(f(v), tf.tensor(dy, shape))))(t);
    return [f(t), g];
  });
}

describe('standardizeRowsFused', () => {
  it.each([
    { shape: [4, 64], eps: 0 },
    { shape: [2, 3, 7], eps: 0 },
    { shape: [5, 65], eps: 1e-5 },
    { shape: [3, 1], eps: 1e-5 },
    { shape: [6, 4], eps: 0 },
    { shape: [9], eps: 1e-12 },
    { shape: [4, 6], eps: 1e-50 }, // ε rounds to 0 in float32: √β as the composite takes it (NaN on a constant row)
  ])('$shape, ε = $eps: values and gradients equal the composite projection', async ({ shape, eps }) => {
    const res = await both(shape, eps, 1);
    expect(res.wasm[0]!.shape).toEqual(shape);
    expectAgree(res);
  });

  it('equals the composite for any row length and ε (property-based)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 2, max: 40 }),
        fc.constantFrom(0, 1e-5, 0.1),
        fc.integer({ min: 0, max: 99 }),
        async (count, n, eps, seed) => {
          expectAgree(await both([count, n], eps, seed));
        },
      ),
      { numRuns: 25 },
    );
  });

  it('tie-broken rows get the direction and a zero gradient', async () => {
    await initEngine({ backend: 'wasm', gradients: false });
    const x = tf.tensor2d([2, 2, 2, 2, 1, 2, 3, 4], [2, 4]);
    const dir = ramp(4);
    const y = standardizeRowsFused(x, 0, dir)!;
    expectClose(y.dataSync().slice(0, 4) as Float32Array, dir, { atol: 0, rtol: 0 });
    const g = tf.grad((v: tf.Tensor) =>
      tf.sum(tf.mul(standardizeRowsFused(v, 0, dir)!, tf.tensor2d([1, 2, 3, 4, 1, 2, 3, 4], [2, 4]))),
    )(x);
    expect(Array.from(g.dataSync().slice(0, 4), Math.abs)).toEqual([0, 0, 0, 0]); // ±0
    tf.dispose([x, y, g]);
  });

  it('a gradient taped with the SIMD kernels on still runs after they are switched off', async () => {
    await initEngine({ backend: 'wasm', gradients: false });
    const x = tf.tensor2d(rows(3, 6, 4), [3, 6]);
    const f = (v: tf.Tensor) =>
      tf.sum(tf.mul(standardizeRowsFused(v, 0, ramp(6))!, tf.reshape(tf.range(0, 18), [3, 6])));
    const reference = tf.grad(f)(x);
    const g = tf.grad((v: tf.Tensor) => {
      const y = f(v);
      useWasmSimdKernels(false);
      return y;
    })(x);
    useWasmSimdKernels(true);
    expectClose(g, reference, { atol: 0, rtol: 0 });
    tf.dispose([x, reference, g]);
  });

  it('answers undefined off wasm, so the caller computes the composite', async () => {
    await initEngine({ backend: 'cpu', gradients: false });
    const x = tf.ones([2, 3]);
    expect(standardizeRowsFused(x, 1e-5)).toBeUndefined();
    x.dispose();
  });

  it('leaves only its output, with and without a gradient', async () => {
    await initEngine({ backend: 'wasm', gradients: false });
    const x = tf.tensor2d(rows(3, 5, 2), [3, 5]);
    await expectNoLeaks(() => standardizeRowsFused(x, 0, ramp(5)));
    await expectNoLeaks(() => tf.grad((v: tf.Tensor) => tf.sum(standardizeRowsFused(v, 1e-5)!))(x));
    x.dispose();
  });

  it('refuses a bad tensor, ε or direction with a BackendError naming it', async () => {
    await initEngine({ backend: 'wasm', gradients: false });
    const x = tf.ones([2, 3]);
    const int = tf.ones([2, 3], 'int32');
    expect(() => standardizeRowsFused(int, 0, ramp(3))).toThrow(BackendError);
    const gone = tf.ones([2, 3]);
    gone.dispose();
    for (const bad of [gone, [1, 2, 3], undefined]) {
      expect(() => standardizeRowsFused(bad as unknown as tf.Tensor, 1e-5)).toThrow(/standardizeRowsFused: x/);
    }
    expect(() => standardizeRowsFused(x, 0, [1, 0, -1] as unknown as Float32Array)).toThrow(/Float32Array of 3/);
    expect(() => standardizeRowsFused(x, -1)).toThrow(/finite number ≥ 0/);
    expect(() => standardizeRowsFused(x, NaN)).toThrow(BackendError);
    expect(() => standardizeRowsFused(x, 0)).toThrow(/tie-break direction/);
    expect(() => standardizeRowsFused(x, 0, ramp(4))).toThrow(/Float32Array of 3 values/);
    tf.dispose([x, int]);
  });
});
