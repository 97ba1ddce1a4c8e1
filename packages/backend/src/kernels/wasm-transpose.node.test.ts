// The wasm Transpose that swaps the last two axes on heap views: the same values as the cpu backend for any shape
// (property-based), the original kernel for other permutations, and no data left in the backend.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import { onCpuAndWasm as onBoth, ramp, smallShapes, expectNoWasmData } from './cpu-wasm.fixture.js';
import { wasmTransposeInstalled } from './wasm-transpose.js';

describe('wasm Transpose on heap views', () => {
  it('is installed by loading the engine', () => {
    expect(wasmTransposeInstalled()).toBe(true);
  });

  it('transposes the last two axes of any shape (float32 and int32) as the cpu backend does', async () => {
    await fc.assert(
      fc.asyncProperty(smallShapes, fc.constantFrom<'float32' | 'int32'>('float32', 'int32'), async (shape, dtype) => {
        const r = shape.length;
        const perm = [...Array(r - 2).keys(), r - 1, r - 2];
        const res = await onBoth(() => [tf.transpose(ramp(shape, dtype), perm)]);
        expect(res.wasm[0]!.shape).toEqual(res.cpu[0]!.shape);
        expect(Array.from(res.wasm[0]!.values)).toEqual(Array.from(res.cpu[0]!.values));
      }),
      { numRuns: 30 },
    );
  });

  it('keeps the original kernel for other permutations, in agreement with cpu', async () => {
    const res = await onBoth(() => [
      tf.transpose(ramp([3, 4, 5]), [2, 0, 1]),
      tf.transpose(ramp([2, 3, 4, 5]), [1, 0, 3, 2]),
    ]);
    res.cpu.forEach((c, i) => expect(Array.from(res.wasm[i]!.values)).toEqual(Array.from(c.values)));
  });

  it('leaves no data in the backend', async () => {
    await expectNoWasmData(() => {
      const x = ramp([3, 40, 9]);
      tf.transpose(x, [0, 2, 1]).dispose();
      tf.tidy(() => tf.transpose(ramp([7, 5], 'int32'))).dispose();
      x.dispose();
    });
  });
});
