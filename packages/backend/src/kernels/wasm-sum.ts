/**
 * `Sum` over leading axes for the wasm backend (the backend README, "Matrix products on wasm"): `out[j] =
 * Σ_i x[i, j]` with `x` seen as `[∏ reduced axes, ∏ kept axes]`, accumulated in float64 on views of the heap.
 * tfjs-wasm reduces only innermost axes natively and transposes first otherwise (≈ 2 ms for `[1024, 256]` over
 * axis 0, against ≈ 0.2 ms here). It is the reduction of every bias gradient (`Σ_tokens dy`). Other axes and
 * dtypes keep the original kernel. Installed by `initEngine`; idempotent.
 */
import { tf } from '#tfjs-core';
import { isHeapBackend, replaceWasmKernel } from './wasm-heap.js';

let installed = false;

/** Whether the wasm `Sum` replacement is in place. */
export function wasmSumInstalled(): boolean {
  return installed;
}

/** Replaces the wasm backend's `Sum` (a no-op without wasm kernels, or when installed). */
export function installWasmSum(): void {
  if (installed) return;
  installed = replaceWasmKernel('Sum', (original) => (args) => {
    const { inputs, backend, attrs } = args;
    const x = inputs['x'] as tf.TensorInfo;
    const { axis, keepDims } = attrs as unknown as { axis: number | number[]; keepDims: boolean };
    const rank = x.shape.length;
    const axes = [...new Set(tf.util.parseAxisParam(axis, x.shape))].sort((a, b) => a - b);
    const leading = axes.length > 0 && axes.length < rank && axes.every((a, i) => a === i);
    if (x.dtype !== 'float32' || !leading || !isHeapBackend(backend)) return original.kernelFunc(args);
    const kept = x.shape.slice(axes.length);
    const inner = kept.reduce((p, s) => p * s, 1);
    const outer = x.shape.slice(0, axes.length).reduce((p, s) => p * s, 1);
    const out = backend.makeOutput(keepDims ? [...axes.map(() => 1), ...kept] : kept, 'float32');
    if (inner === 0) return out;
    const acc = new Float64Array(inner);
    const xs = backend.typedArrayFromHeap(x) as Float32Array; // [outer, inner]
    for (let i = 0; i < outer; i++) {
      const row = i * inner;
      for (let j = 0; j < inner; j++) acc[j]! += xs[row + j]!;
    }
    (backend.typedArrayFromHeap(out) as Float32Array).set(acc);
    return out;
  });
}
