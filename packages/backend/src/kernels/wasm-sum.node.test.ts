// The wasm Sum and Mean over a contiguous block of axes (TIDE's SIMD kernel, else float64 on heap views for leading
// axes): the same values as the cpu backend for any shape and block (property-based), the original kernels for
// other reductions, and no data left in the backend.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import { expectClose } from '../testing/index.js';
import { onCpuAndWasm as onBoth, ramp, smallShapes, expectNoWasmData } from './cpu-wasm.fixture.js';
import { wasmSumInstalled } from './wasm-sum.js';
import { useWasmSimdKernels } from './wasm-simd.js';

/** A contiguous block of axes of a shape of rank r: [first, first + count). */
const blocks = fc.tuple(smallShapes, fc.nat(), fc.nat(), fc.boolean(), fc.boolean());

function axesOf(rank: number, a: number, b: number): number[] {
  const first = a % rank;
  const count = 1 + (b % (rank - first));
  return Array.from({ length: count }, (_, i) => first + i);
}

describe('wasm Sum and Mean over a contiguous block of axes', () => {
  it('is installed by loading the engine', () => {
    expect(wasmSumInstalled()).toBe(true);
  });

  for (const simd of [true, false]) {
    it(`sums and averages over any contiguous block of any shape as the cpu backend does (SIMD kernels ${simd ? 'on' : 'off'})`, async () => {
      useWasmSimdKernels(simd);
      try {
        await fc.assert(
          fc.asyncProperty(blocks, async ([shape, a, b, keepDims, mean]) => {
            const axes = axesOf(shape.length, a, b);
            const op = mean ? tf.mean : tf.sum;
            const res = await onBoth(() => [op(ramp(shape), axes, keepDims)]);
            expect(res.wasm[0]!.shape).toEqual(res.cpu[0]!.shape);
            expectClose(res.wasm[0]!.values as Float32Array, res.cpu[0]!.values as Float32Array, {
              atol: 1e-4,
              rtol: 1e-5,
            });
          }),
          { numRuns: 30 },
        );
      } finally {
        useWasmSimdKernels(true);
      }
    });
  }

  it('rows, columns and blocks of every width (16, 4, 1 columns; 4-lane rows with a rest)', async () => {
    const res = await onBoth(() => [
      tf.sum(ramp([3, 1027]), 1), // rows: 256 lanes of 4 and 3 more
      tf.sum(ramp([301, 16 + 4 + 3]), 0), // one block of 16, one of 4, 3 single columns
      tf.mean(ramp([2, 5, 7, 37]), [1, 2]), // a middle block: pre 2, red 35, post 37
      tf.sum(ramp([4, 9])), // every axis
    ]);
    res.cpu.forEach((c, i) => {
      expect(res.wasm[i]!.shape).toEqual(c.shape);
      expectClose(res.wasm[i]!.values as Float32Array, c.values as Float32Array, { atol: 1e-4, rtol: 1e-5 });
    });
  });

  it('keeps the original kernels for other reductions (non-contiguous axes, int32, empty), in agreement with cpu', async () => {
    const res = await onBoth(() => [
      tf.sum(ramp([2, 3, 4]), [0, 2]),
      tf.sum(ramp([4, 5], 'int32'), 0),
      tf.mean(ramp([2, 3, 4]), [0, 2]),
      tf.sum(tf.zeros([0, 3]), 0),
    ]);
    res.cpu.forEach((c, i) => {
      expect(res.wasm[i]!.shape).toEqual(c.shape);
      expectClose(res.wasm[i]!.values as Float32Array, c.values as Float32Array, { atol: 1e-4, rtol: 1e-5 });
    });
  });

  it('leaves no data in the backend', async () => {
    await expectNoWasmData(() => {
      const x = ramp([3, 40, 9]);
      tf.sum(x, [0, 1]).dispose();
      tf.sum(x, 0, true).dispose();
      tf.sum(x, -1).dispose();
      tf.mean(x, 1).dispose();
      x.dispose();
    });
  });
});
