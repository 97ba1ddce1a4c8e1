// The wasm Slice, SplitV and Unpack that copy only what they return: the same values as the cpu backend for any
// slice of any rank and dtype (property-based), and no data left in the backend.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../engine.js';
import { onCpuAndWasm as onBoth } from './cpu-wasm.fixture.js';
import { wasmSliceInstalled } from './wasm-slice.js';

/** A shape of rank 1–5 with sides 1–4, a begin and size inside it (sizes may be −1: "to the end"). */
const sliceCase = fc
  .array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 5 })
  .chain((shape) =>
    fc.tuple(
      fc.constant(shape),
      fc.tuple(...shape.map((s) => fc.integer({ min: 0, max: s - 1 }))),
      fc.constantFrom<'float32' | 'int32' | 'bool'>('float32', 'int32', 'bool'),
    ),
  )
  .chain(([shape, begin, dtype]) =>
    fc.tuple(
      fc.constant(shape),
      fc.constant(begin),
      fc.tuple(...shape.map((s, i) => fc.oneof(fc.integer({ min: 0, max: s - begin[i]! }), fc.constant(-1)))),
      fc.constant(dtype),
    ),
  );

function values(shape: number[], dtype: 'float32' | 'int32' | 'bool'): tf.Tensor {
  const n = shape.reduce((p, s) => p * s, 1);
  const data = Array.from({ length: n }, (_, i) =>
    dtype === 'bool' ? (i * 7) % 3 === 0 : dtype === 'int32' ? i - 5 : Math.sin(i),
  );
  return tf.tensor(data as number[], shape, dtype);
}

describe('wasm Slice, SplitV and Unpack on heap views', () => {
  it('are installed by loading the engine', () => {
    expect(wasmSliceInstalled()).toBe(true);
  });

  it('slice any rank 1–5, any begin and size, float32, int32 and bool, as the cpu backend does', async () => {
    await fc.assert(
      fc.asyncProperty(sliceCase, async ([shape, begin, size, dtype]) => {
        const r = await onBoth(() => [tf.slice(values(shape, dtype), begin, size)]);
        expect(r.wasm[0]!.shape).toEqual(r.cpu[0]!.shape);
        expect(Array.from(r.wasm[0]!.values)).toEqual(Array.from(r.cpu[0]!.values));
      }),
      { numRuns: 60 },
    );
  });

  it('split (equal parts and sizes, every axis) and unstack as the cpu backend does', async () => {
    const r = await onBoth(() => {
      const x = values([2, 6, 4], 'float32');
      return [
        ...tf.split(x, 3, 1),
        ...tf.split(x, [1, 3, 2], 1),
        ...tf.split(x, [3, 1], -1),
        ...tf.split(x, 2, 0),
        ...tf.unstack(x, 0),
        ...tf.unstack(x, 2),
        ...tf.unstack(values([3, 2], 'int32'), 1),
      ];
    });
    expect(r.wasm.length).toBe(r.cpu.length);
    r.cpu.forEach((c, i) => {
      expect(r.wasm[i]!.shape).toEqual(c.shape);
      expect(Array.from(r.wasm[i]!.values)).toEqual(Array.from(c.values));
    });
  });

  it('slices of empty extent, whole tensors and strings', async () => {
    const r = await onBoth(() => {
      const x = values([3, 4], 'float32');
      return [tf.slice(x, [1, 0], [0, 4]), tf.slice(x, [0, 0], [-1, -1]), tf.slice(x, [2, 1], [1, 2])];
    });
    r.cpu.forEach((c, i) => expect(Array.from(r.wasm[i]!.values)).toEqual(Array.from(c.values)));
    await initEngine({ backend: 'wasm', gradients: false });
    const s = tf.tensor(['a', 'b', 'c', 'd'], [2, 2], 'string');
    const part = tf.slice(s, [1, 0], [1, 2]);
    expect(part.dataSync()).toEqual(['c', 'd']); // strings keep the original kernel
    tf.dispose([s, part]);
  });

  it('leave no data in the backend', async () => {
    await initEngine({ backend: 'wasm', gradients: false });
    const x = values([4, 6, 5], 'float32');
    const backend = tf.engine().backend;
    const before = backend.numDataIds();
    const tensors = tf.memory().numTensors;
    tf.slice(x, [1, 2, 0], [2, 3, 5]).dispose();
    tf.dispose(tf.split(x, [2, 4], 1));
    tf.dispose(tf.unstack(x, 2));
    expect(backend.numDataIds()).toBe(before);
    expect(tf.memory().numTensors).toBe(tensors);
    x.dispose();
  });
});
