// The wasm BatchMatMul with explicit transposes and batched products on heap views: the same products and
// gradients as the cpu backend, the original kernel where it is cheaper, and no data left in the backend.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { expectClose } from '../testing/index.js';
import { initEngine } from '../engine.js';
import { wasmMatMulInstalled } from './wasm-matmul.js';
import { useWasmSimdKernels } from './wasm-simd.js';
import { onCpuAndWasm, type Result } from './cpu-wasm.fixture.js';

/** Computes `f` on cpu and on wasm (gradients registered); returns the results as float arrays and shapes. */
async function onBoth(f: () => tf.Tensor | tf.Tensor[]) {
  const res = await onCpuAndWasm(() => [f()].flat(), { gradients: true });
  const values = (rs: Result[]) => rs.map((r) => r.values as Float32Array);
  return {
    cpu: values(res.cpu),
    wasm: values(res.wasm),
    shapes: { cpu: res.cpu.map((r) => r.shape), wasm: res.wasm.map((r) => r.shape) },
  };
}

describe('wasm BatchMatMul with explicit transposes', () => {
  it('is installed by loading the engine', () => {
    expect(wasmMatMulInstalled()).toBe(true);
  });

  it('a·bᵀ, aᵀ·b and aᵀ·bᵀ (rank 2 and a batch of one) equal the cpu products', async () => {
    const a = Array.from({ length: 37 * 29 }, (_, i) => Math.sin(i));
    const b = Array.from({ length: 29 * 23 }, (_, i) => Math.cos(1.3 * i));
    const cases: [string, () => tf.Tensor][] = [
      ['a·bᵀ', () => tf.matMul(tf.tensor2d(a, [37, 29]), tf.tensor2d(b, [23, 29]), false, true)],
      ['aᵀ·b', () => tf.matMul(tf.tensor2d(a, [29, 37]), tf.tensor2d(b, [29, 23]), true, false)],
      ['aᵀ·bᵀ', () => tf.matMul(tf.tensor2d(a, [29, 37]), tf.tensor2d(b, [23, 29]), true, true)],
      ['batch of one', () => tf.matMul(tf.tensor3d(a, [1, 37, 29]), tf.tensor3d(b, [1, 23, 29]), false, true)],
      [
        'one row times a transposed matrix (original kernel)',
        () => tf.matMul(tf.tensor2d(a.slice(0, 29), [1, 29]), tf.tensor2d(b, [23, 29]), false, true),
      ],
      [
        'aᵀ·bᵀ with 3 rows: only a made explicit',
        () => tf.matMul(tf.tensor2d(a.slice(0, 29 * 3), [29, 3]), tf.tensor2d(b, [23, 29]), true, true),
      ],
      [
        'batched a·bᵀ (views)',
        () =>
          tf.matMul(
            tf.tensor3d(a.slice(0, 2 * 17 * 29), [2, 17, 29]),
            tf.tensor3d(b.slice(0, 2 * 11 * 29), [2, 11, 29]),
            false,
            true,
          ),
      ],
      [
        'batched aᵀ·b over two batch axes (views)',
        () =>
          tf.matMul(
            tf.tensor4d(a.slice(0, 6 * 29 * 5), [2, 3, 29, 5]),
            tf.tensor4d(b.slice(0, 6 * 29 * 3), [2, 3, 29, 3]),
            true,
          ),
      ],
      [
        'batched a times one b, broadcast (views)',
        () => tf.matMul(tf.tensor3d(a.slice(0, 3 * 9 * 29), [3, 9, 29]), tf.tensor2d(b.slice(0, 29 * 7), [29, 7])),
      ],
      [
        'a batch of a over two axes times one transposed b: one stacked product',
        () =>
          tf.matMul(
            tf.tensor4d(a.slice(0, 4 * 8 * 29), [2, 2, 8, 29]),
            tf.tensor2d(b.slice(0, 7 * 29), [7, 29]),
            false,
            true,
          ),
      ],
      [
        'one a times batched b, broadcast (views)',
        () =>
          tf.matMul(tf.tensor3d(a.slice(0, 9 * 29), [1, 9, 29]), tf.tensor4d(b.slice(0, 4 * 29 * 5), [2, 2, 29, 5])),
      ],
      [
        'a batch of one with more batch axes than b: [1, 1, 9, 29]·[3, 29, 5] (views)',
        () =>
          tf.matMul(tf.tensor4d(a.slice(0, 9 * 29), [1, 1, 9, 29]), tf.tensor3d(b.slice(0, 3 * 29 * 5), [3, 29, 5])),
      ],
      [
        'and the other way: [3, 9, 29]·[1, 1, 29, 5] (views)',
        () =>
          tf.matMul(tf.tensor3d(a.slice(0, 3 * 9 * 29), [3, 9, 29]), tf.tensor4d(b.slice(0, 29 * 5), [1, 1, 29, 5])),
      ],
      [
        'batched with 3 rows (original kernel)',
        () =>
          tf.matMul(tf.tensor3d(a.slice(0, 4 * 3 * 29), [4, 3, 29]), tf.tensor3d(b.slice(0, 4 * 29 * 5), [4, 29, 5])),
      ],
      [
        'batch axes broadcast both ways (original kernel)',
        () =>
          tf.matMul(
            tf.tensor4d(a.slice(0, 2 * 9 * 29), [2, 1, 9, 29]),
            tf.tensor4d(b.slice(0, 3 * 29 * 4), [1, 3, 29, 4]),
          ),
      ],
    ];
    // With TIDE's SIMD kernels (batched products and aᵀ·b), and without them: the XNNPACK paths above, which
    // runtimes without wasm SIMD take.
    for (const simd of [true, false]) {
      useWasmSimdKernels(simd);
      try {
        for (const [name, f] of cases) {
          const { cpu, wasm, shapes } = await onBoth(f);
          expect(shapes.wasm, name).toEqual(shapes.cpu);
          expectClose(wasm[0]!, cpu[0]!, { rtol: 1e-5, atol: 1e-5 }, `${name} (SIMD kernels ${simd ? 'on' : 'off'})`);
        }
      } finally {
        useWasmSimdKernels(true);
      }
    }
  });

  it('gradients of a·bᵀ (which are products with transposes themselves) equal the cpu ones', async () => {
    const a = Array.from({ length: 12 * 7 }, (_, i) => Math.sin(0.7 * i));
    const b = Array.from({ length: 5 * 7 }, (_, i) => Math.cos(0.3 * i));
    const { cpu, wasm } = await onBoth(() =>
      tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.square(tf.matMul(x, y, false, true))))([
        tf.tensor2d(a, [12, 7]),
        tf.tensor2d(b, [5, 7]),
      ]),
    );
    for (let i = 0; i < 2; i++) expectClose(wasm[i]!, cpu[i]!, { rtol: 1e-5, atol: 1e-5 });
  });

  it('empty operands give the empty product (an empty batch) or zeros (no inner terms)', async () => {
    await initEngine({ backend: 'wasm' });
    const [c, z] = tf.tidy(() => [
      tf.matMul(tf.zeros([0, 9, 4]), tf.ones([4, 5])),
      tf.matMul(tf.ones([2, 3, 0]), tf.ones([2, 0, 4])),
    ]);
    expect(c!.shape).toEqual([0, 9, 5]);
    expect(c!.size).toBe(0);
    expect(z!.shape).toEqual([2, 3, 4]);
    expect(Array.from(z!.dataSync())).toEqual(new Array(24).fill(0));
    tf.dispose([c!, z!]);
  });

  it('gradients of batched attention products (SIMD kernels, and views without them) equal the cpu ones', async () => {
    const q = Array.from({ length: 2 * 3 * 16 * 8 }, (_, i) => Math.sin(0.37 * i));
    const k = Array.from({ length: 2 * 3 * 16 * 8 }, (_, i) => Math.cos(0.21 * i));
    for (const simd of [true, false]) {
      useWasmSimdKernels(simd);
      try {
        const { cpu, wasm } = await onBoth(() =>
          tf.grads((x: tf.Tensor, y: tf.Tensor) => {
            const s = tf.softmax(tf.matMul(x, y, false, true)); // [2, 3, 16, 16]
            return tf.sum(tf.square(tf.matMul(s, y))); // [2, 3, 16, 8]
          })([tf.tensor4d(q, [2, 3, 16, 8]), tf.tensor4d(k, [2, 3, 16, 8])]),
        );
        for (let i = 0; i < 2; i++) expectClose(wasm[i]!, cpu[i]!, { rtol: 1e-5, atol: 1e-5 });
      } finally {
        useWasmSimdKernels(true);
      }
    }
  });

  it('frees its explicit transposes and views: no data left in the backend', async () => {
    await initEngine({ backend: 'wasm' });
    const a = tf.randomNormal([64, 32]);
    const b = tf.randomNormal([16, 32]);
    const backend = tf.engine().backend;
    const before = backend.numDataIds();
    const tensors = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) tf.matMul(a, b, false, true).dispose();
    tf.matMul(a, a, true, false).dispose(); // aᵀ·a
    const q = tf.randomNormal([3, 2, 16, 8]);
    const w = tf.randomNormal([8, 5]);
    const before2 = backend.numDataIds();
    // Without TIDE's SIMD kernels batched products run on views registered in the wasm tensor table: count them, so
    // the test proves that path ran and that every view it registered was unregistered.
    const table = (backend as unknown as { wasm: { tfjs: Record<string, (...a: number[]) => void> } }).wasm.tfjs;
    const [register, unregister] = [table['registerTensor']!, table['disposeData']!];
    let views = 0;
    let registered = 0;
    table['registerTensor'] = (...args) => (views++, registered++, register(...args));
    table['disposeData'] = (...args) => (views--, unregister(...args));
    useWasmSimdKernels(false);
    try {
      tf.matMul(q, q, false, true).dispose(); // batched on views: 6 products of 3 views (+ transposed k, output)
      expect(registered).toBeGreaterThanOrEqual(6 * 3);
      expect(views).toBe(0);
      tf.matMul(q, w).dispose(); // broadcast: one stacked product
    } finally {
      useWasmSimdKernels(true);
      [table['registerTensor'], table['disposeData']] = [register, unregister];
    }
    expect(views).toBe(0);
    expect(backend.numDataIds()).toBe(before2);
    tf.dispose([q, w]);
    expect(backend.numDataIds()).toBe(before);
    expect(tf.memory().numTensors).toBe(tensors);
    tf.dispose([a, b]);
  });
});
