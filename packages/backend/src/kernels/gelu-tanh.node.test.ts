// GELU (tanh form): the fused wasm kernels equal the composite x·σ(2v) on the cpu backend (values and gradients,
// any length, including the scalar tail and large |x|), the composite is used where the kernels are off, it leaves
// only its output, and it refuses what is not a live float32 tensor.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import { BackendError } from '../errors.js';
import { expectClose, expectNoLeaks } from '../testing/index.js';
import { initEngine } from '../engine.js';
import { geluTanh } from './gelu-tanh.js';
import { onCpuAndWasm } from './cpu-wasm.fixture.js';
import { useWasmSimdKernels } from './wasm-simd.js';

/** GELU-tanh in float64 on the host: ½x(1 + tanh(√(2/π)(x + 0.044715x³))) and its derivative. */
function reference(x: number): [number, number] {
  const c = Math.sqrt(2 / Math.PI);
  const v = c * (x + 0.044715 * x ** 3);
  const t = Math.tanh(v);
  return [0.5 * x * (1 + t), 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x)];
}

const values = (n: number, seed: number) =>
  Array.from({ length: n }, (_, i) => 12 * Math.sin(seed + 0.731 * i) * Math.abs(Math.cos(0.37 * i)));

describe('geluTanh', () => {
  it('equals the float64 formula and its derivative, fused on wasm and composite on cpu', async () => {
    // 207 values: the last three (5, 12, 30) go through the scalar tail.
    const xs = [...values(198, 1), -30, -12, -5, -1e-3, 0, 1e-3, 5, 12, 30];
    const res = await onCpuAndWasm(() => {
      const x = tf.tensor1d(xs);
      return [geluTanh(x), tf.grad((v: tf.Tensor) => tf.sum(geluTanh(v)))(x)];
    });
    const want = xs.map(reference);
    for (const backend of ['cpu', 'wasm'] as const) {
      expectClose(
        res[backend][0]!.values as Float32Array,
        Float32Array.from(want, (w) => w[0]),
        {
          atol: 2e-6,
          rtol: 2e-6,
        },
        `${backend}: values`,
      );
      expectClose(
        res[backend][1]!.values as Float32Array,
        Float32Array.from(want, (w) => w[1]),
        {
          atol: 2e-6,
          rtol: 2e-6,
        },
        `${backend}: derivative`,
      );
    }
  });

  it('the fused kernels equal the composite for any shape and upstream gradient (property-based)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 3 }),
        fc.integer({ min: 0, max: 1000 }),
        async (shape, seed) => {
          const n = shape.reduce((p, s) => p * s, 1);
          const x = values(n, seed);
          const dy = values(n, seed + 7);
          const res = await onCpuAndWasm(() => {
            const t = tf.tensor(x, shape);
            const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(geluTanh(v), tf.tensor(dy, shape))))(t);
            return [geluTanh(t), g];
          });
          expect(res.wasm[0]!.shape).toEqual(shape);
          for (let i = 0; i < 2; i++) {
            expectClose(res.wasm[i]!.values as Float32Array, res.cpu[i]!.values as Float32Array, {
              atol: 1e-5,
              rtol: 1e-5,
            });
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it('keeps NaN, +∞ and the limits of large |x|', async () => {
    await initEngine({ backend: 'wasm', gradients: false });
    // Lanes of four, then the same values again through the scalar tail.
    const y = tf.tidy(() => geluTanh(tf.tensor1d([NaN, Infinity, 100, -100, NaN, Infinity, 100])));
    const v = Array.from(y.dataSync());
    for (const i of [0, 4]) expect(v[i]).toBeNaN();
    for (const i of [1, 5]) expect(v[i]).toBe(Infinity);
    for (const i of [2, 6]) expect(v[i]).toBe(100);
    expect(Math.abs(v[3]!)).toBeLessThan(1e-30);
    y.dispose();
  });

  it('uses the composite when the SIMD kernels are switched off (same values)', async () => {
    await initEngine({ backend: 'wasm', gradients: false });
    const x = tf.tensor1d(values(37, 3));
    const fused = geluTanh(x);
    useWasmSimdKernels(false);
    try {
      const kernels = (await tf.profile(() => geluTanh(x))).kernels.map((k) => k.name);
      expect(kernels).not.toContain('TideGeluTanh');
      const composite = geluTanh(x);
      expectClose(fused, composite, { atol: 1e-6, rtol: 1e-6 });
      tf.dispose([composite]);
    } finally {
      useWasmSimdKernels(true);
    }
    expect((await tf.profile(() => geluTanh(x))).kernels.map((k) => k.name)).toContain('TideGeluTanh');
    tf.dispose([x, fused]);
  });

  it('a gradient taped with the SIMD kernels on still runs after they are switched off', async () => {
    await initEngine({ backend: 'wasm', gradients: false });
    const x = tf.tensor1d(values(9, 4));
    const reference = tf.grad((v: tf.Tensor) => tf.sum(geluTanh(v)))(x);
    const g = tf.grad((v: tf.Tensor) => {
      const y = tf.sum(geluTanh(v)); // forward on the fused kernel
      useWasmSimdKernels(false); // before the backward pass
      return y;
    })(x);
    useWasmSimdKernels(true);
    expectClose(g, reference, { atol: 0, rtol: 0 });
    tf.dispose([x, reference, g]);
  });

  it('leaves only its output, with and without a gradient', async () => {
    for (const backend of ['cpu', 'wasm'] as const) {
      await initEngine({ backend, gradients: false });
      const x = tf.tensor2d(values(6, 2), [2, 3]);
      await expectNoLeaks(() => geluTanh(x));
      await expectNoLeaks(() => tf.grad((v: tf.Tensor) => tf.sum(geluTanh(v)))(x));
      x.dispose();
    }
  });

  it('refuses what is not a live float32 tensor, naming it', async () => {
    await initEngine({ backend: 'wasm', gradients: false });
    const i = tf.tensor1d([1, 2], 'int32');
    const gone = tf.tensor1d([1]);
    gone.dispose();
    for (const bad of [i, gone, [1, 2], undefined]) {
      expect(() => geluTanh(bad as unknown as tf.Tensor)).toThrow(BackendError);
    }
    expect(() => geluTanh(i)).toThrow(/live float32 tensor/);
    i.dispose();
  });
});
