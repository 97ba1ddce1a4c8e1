// TIDE's wasm SIMD kernels: the module loads on the wasm backend's own heap (plain and shared), its batched product
// equals the cpu backend's for any shapes, transposes and broadcast batches (property-based), it can be switched
// off, and it leaves no data in the backend.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import { BackendError } from '../errors.js';
import { expectClose } from '../testing/index.js';
import { initEngine } from '../engine.js';
import { onCpuAndWasm, ramp, expectNoWasmData } from './cpu-wasm.fixture.js';
import { WASM_SIMD_KERNELS, WASM_SIMD_KERNELS_SHARED } from './wasm-simd.binary.js';
import { bmmScratch, simdKernelsOf, useWasmSimdKernels } from './wasm-simd.js';

function bytes(base64: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

describe('wasm SIMD kernels', () => {
  it('are bound to the wasm backend (and to nothing else)', async () => {
    await initEngine({ backend: 'wasm', gradients: false });
    expect(simdKernelsOf(tf.engine().backend)).toBeDefined();
    await initEngine({ backend: 'cpu', gradients: false });
    expect(simdKernelsOf(tf.engine().backend)).toBeUndefined();
    expect(simdKernelsOf(undefined)).toBeUndefined();
  });

  it('import nothing but a memory, plain or shared (the threaded build’s heap)', () => {
    const plain = new WebAssembly.Module(bytes(WASM_SIMD_KERNELS));
    const shared = new WebAssembly.Module(bytes(WASM_SIMD_KERNELS_SHARED));
    for (const m of [plain, shared]) {
      expect(WebAssembly.Module.imports(m)).toEqual([{ module: 'env', name: '__linear_memory', kind: 'memory' }]);
      expect(WebAssembly.Module.exports(m).map((e) => e.name)).toContain('bmm');
    }
    const memory = new WebAssembly.Memory({ initial: 1 });
    const sharedMemory = new WebAssembly.Memory({ initial: 1, maximum: 4, shared: true });
    // A 2 × 2 product in a fresh memory: a at 0, b at 16, c at 32, scratch at 64 (ints: byte offsets).
    for (const [module, mem] of [
      [plain, memory],
      [shared, sharedMemory],
    ] as const) {
      const { bmm } = new WebAssembly.Instance(module, { env: { __linear_memory: mem } }).exports as {
        bmm: (...args: number[]) => void;
      };
      const f = new Float32Array(mem.buffer);
      f.set([1, 2, 3, 4], 0); // a [[1, 2], [3, 4]]
      f.set([5, 6, 7, 8], 4); // b [[5, 6], [7, 8]]
      bmm(0, 16, 32, 64, 1, 2, 2, 2, 0, 2, 1, 0, 2, 1);
      expect(Array.from(f.subarray(8, 12))).toEqual([19, 22, 43, 50]);
      bmm(0, 16, 32, 64, 1, 2, 2, 2, 0, 1, 2, 0, 1, 2); // aᵀ·bᵀ through strides
      expect(Array.from(f.subarray(8, 12))).toEqual([23, 31, 34, 46]);
    }
    expect(bmmScratch(16, 9)).toBe(8 * 2 * 16 + 32);
  });

  it('batched products and aᵀ·b reach the bmm kernel (one call each); plain a·b stays with XNNPACK', async () => {
    await initEngine({ backend: 'wasm', gradients: false });
    const kernels = simdKernelsOf(tf.engine().backend)!;
    const bmm = kernels.bmm;
    let calls = 0;
    (kernels as { bmm: typeof bmm }).bmm = (...args) => {
      calls++;
      bmm(...args);
    };
    try {
      const q = ramp([2, 3, 16, 8]);
      const w = ramp([40, 12]);
      const expectCalls = (f: () => tf.Tensor, n: number) => {
        const before = calls;
        f().dispose();
        expect(calls - before).toBe(n);
      };
      expectCalls(() => tf.matMul(q, q, false, true), 1); // batched, b transposed
      expectCalls(() => tf.matMul(q, q, true, false), 1); // batched, a transposed
      expectCalls(() => tf.matMul(w, w, true, false), 1); // aᵀ·b (a weight gradient)
      expectCalls(() => tf.matMul(w, tf.transpose(w)), 0); // a·b: XNNPACK
      expectCalls(() => tf.matMul(q, ramp([8, 5])), 0); // a batch of a against one b: one stacked XNNPACK product
      tf.dispose([q, w]);
    } finally {
      (kernels as { bmm: typeof bmm }).bmm = bmm;
    }
  });

  it('batched products with any transposes and broadcast batches equal the cpu backend’s', async () => {
    const sizes = fc.record({
      batch: fc.constantFrom([2], [3], [2, 3], [1, 2]),
      broadcast: fc.constantFrom('none', 'a', 'b'),
      m: fc.integer({ min: 4, max: 21 }),
      k: fc.integer({ min: 1, max: 19 }),
      n: fc.integer({ min: 1, max: 21 }),
      ta: fc.boolean(),
      tb: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(sizes, async ({ batch, broadcast, m, k, n, ta, tb }) => {
        const aBatch = broadcast === 'a' ? [1] : batch;
        const bBatch = broadcast === 'b' ? [1] : batch;
        const res = await onCpuAndWasm(() => [
          tf.matMul(ramp([...aBatch, ...(ta ? [k, m] : [m, k])]), ramp([...bBatch, ...(tb ? [n, k] : [k, n])]), ta, tb),
        ]);
        expect(res.wasm[0]!.shape).toEqual(res.cpu[0]!.shape);
        expectClose(res.wasm[0]!.values as Float32Array, res.cpu[0]!.values as Float32Array, {
          atol: 1e-5,
          rtol: 1e-5,
        });
      }),
      { numRuns: 40 },
    );
  });

  it('weight gradients aᵀ·b (unbatched, a transposed) equal the cpu backend’s, across panels and row tiles', async () => {
    const res = await onCpuAndWasm(() => [
      tf.matMul(ramp([300, 37]), ramp([300, 29]), true, false), // 9 row tiles + 1, 3 panels + 5 columns
      tf.matMul(ramp([64, 4]), ramp([64, 8]), true, false), // one tile, one full panel
      tf.matMul(ramp([5, 6]), ramp([6, 5]), true, true), // k = 5 (a 6 × 6 product)
    ]);
    res.cpu.forEach((c, i) => {
      expect(res.wasm[i]!.shape).toEqual(c.shape);
      expectClose(res.wasm[i]!.values as Float32Array, c.values as Float32Array, { atol: 1e-4, rtol: 1e-5 });
    });
  });

  it('switched off, the products are tfjs’s and agree; the switch is checked', async () => {
    const f = () => [tf.matMul(ramp([2, 3, 16, 8]), ramp([2, 3, 16, 8]), false, true)];
    await initEngine({ backend: 'wasm', gradients: false });
    const on = tf.tidy(f)[0]!;
    expect(useWasmSimdKernels(false)).toBe(true);
    try {
      expect(simdKernelsOf(tf.engine().backend)).toBeUndefined();
      const off = tf.tidy(f)[0]!;
      expectClose(on.dataSync() as Float32Array, off.dataSync() as Float32Array, { atol: 1e-5, rtol: 1e-5 });
      tf.dispose([on, off]);
    } finally {
      expect(useWasmSimdKernels(true)).toBe(false);
    }
    expect(() => useWasmSimdKernels('no' as unknown as boolean)).toThrow(BackendError);
    expect(() => useWasmSimdKernels('no' as unknown as boolean)).toThrow(/expected a boolean/);
  });

  it('leaves no data in the backend (products and their gradients)', async () => {
    await expectNoWasmData(() => {
      const q = ramp([2, 3, 16, 8]);
      const w = ramp([40, 12]);
      tf.matMul(q, q, false, true).dispose();
      tf.matMul(q, q, true, false).dispose();
      tf.matMul(w, w, true, false).dispose();
      const g = tf.grad((x: tf.Tensor) => tf.sum(tf.matMul(x, x, false, true)))(q);
      tf.dispose([g, q, w]);
    });
  });
});
