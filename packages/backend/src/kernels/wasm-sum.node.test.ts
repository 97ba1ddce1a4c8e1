// The wasm Sum over leading axes on heap views: the same values as the cpu backend for any shape (property-based),
// the original kernel for other reductions, and no data left in the backend.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import { expectClose } from '../testing/index.js';
import { onCpuAndWasm as onBoth, ramp, smallShapes, expectNoWasmData } from './cpu-wasm.fixture.js';
import { wasmSumInstalled } from './wasm-sum.js';

describe('wasm Sum over leading axes on heap views', () => {
  it('is installed by loading the engine', () => {
    expect(wasmSumInstalled()).toBe(true);
  });

  it('sums over leading axes of any shape (with and without keepDims) as the cpu backend does', async () => {
    await fc.assert(
      fc.asyncProperty(smallShapes, fc.nat(), fc.boolean(), async (shape, k, keepDims) => {
        const lead = 1 + (k % (shape.length - 1)); // 1 … rank − 1 leading axes
        const axes = [...Array(lead).keys()];
        const res = await onBoth(() => [tf.sum(ramp(shape), axes, keepDims)]);
        expect(res.wasm[0]!.shape).toEqual(res.cpu[0]!.shape);
        expectClose(res.wasm[0]!.values as Float32Array, res.cpu[0]!.values as Float32Array, {
          atol: 1e-4,
          rtol: 1e-5,
        });
      }),
      { numRuns: 30 },
    );
  });

  it('keeps the original kernel for other reductions (innermost, all axes, int32), in agreement with cpu', async () => {
    const res = await onBoth(() => [
      tf.sum(ramp([6, 7]), 1),
      tf.sum(ramp([6, 7])),
      tf.sum(ramp([4, 5], 'int32'), 0),
      tf.sum(ramp([2, 3, 4]), [0, 2]),
    ]);
    res.cpu.forEach((c, i) =>
      expectClose(res.wasm[i]!.values as Float32Array, c.values as Float32Array, { atol: 1e-4, rtol: 1e-5 }),
    );
  });

  it('leaves no data in the backend', async () => {
    await expectNoWasmData(() => {
      const x = ramp([3, 40, 9]);
      tf.sum(x, [0, 1]).dispose();
      tf.sum(x, 0, true).dispose();
      x.dispose();
    });
  });
});
