// Test helper for the wasm kernel replacements: the same computation on cpu and on wasm.
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import { initEngine } from '../engine.js';

/** One result's values and shape. */
export interface Result {
  readonly values: Float32Array | Int32Array | Uint8Array;
  readonly shape: number[];
}

/**
 * Runs `f` on cpu and on wasm (from the same host data); returns each result's values and shape. `gradients`:
 * register tfjs's gradients first (for an `f` that differentiates).
 */
export async function onCpuAndWasm(
  f: () => tf.Tensor[],
  { gradients = false }: { gradients?: boolean } = {},
): Promise<Record<'cpu' | 'wasm', Result[]>> {
  const out = {} as Record<'cpu' | 'wasm', Result[]>;
  for (const backend of ['cpu', 'wasm'] as const) {
    await initEngine({ backend, gradients });
    const r = tf.tidy(f);
    out[backend] = r.map((t) => ({ values: t.dataSync() as Result['values'], shape: t.shape }));
    tf.dispose(r);
  }
  return out;
}

/** `∏ shape` values, float32 (a sine ramp) or int32 (a shifted count). */
export function ramp(shape: number[], dtype: 'float32' | 'int32' = 'float32'): tf.Tensor {
  const n = shape.reduce((p, s) => p * s, 1);
  return tf.tensor(
    Array.from({ length: n }, (_, i) => (dtype === 'int32' ? i - 7 : Math.sin(0.37 * i))),
    shape,
    dtype,
  );
}

/** Shapes of rank 2–4, sides 1–70, at most 40 000 elements. */
export const smallShapes = fc
  .array(fc.integer({ min: 1, max: 70 }), { minLength: 2, maxLength: 4 })
  .filter((s) => s.reduce((p, x) => p * x, 1) <= 40_000);

/** Runs `f` on wasm and expects it to leave neither tensors nor backend data behind. */
export async function expectNoWasmData(f: () => void): Promise<void> {
  await initEngine({ backend: 'wasm', gradients: false });
  const backend = tf.engine().backend;
  const data = backend.numDataIds();
  const tensors = tf.memory().numTensors;
  f();
  expect(backend.numDataIds()).toBe(data);
  expect(tf.memory().numTensors).toBe(tensors);
}
