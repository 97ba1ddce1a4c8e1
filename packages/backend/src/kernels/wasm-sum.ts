/**
 * `Sum` and `Mean` over a contiguous block of axes for the wasm backend (the backend README, "Matrix products on
 * wasm"): `out[p, q] = scale · Σ_r x[p, r, q]` with `x` seen as `[∏ axes before, ∏ reduced axes, ∏ axes after]`
 * (`scale` 1 for a sum, `1/∏ reduced` for a mean), on TIDE's SIMD kernel in the heap (kernels/wasm-simd.ts).
 * tfjs-wasm reduces only innermost axes natively, with a scalar loop, and transposes first otherwise (≈ 2 ms for
 * `[1024, 256]` over axis 0). These reductions are every bias gradient (`Σ_tokens dy`), the gradient of every
 * broadcast product, and LayerNorm's moments. Where the SIMD kernels cannot run, a sum over leading axes is
 * accumulated in float64 on heap views in JavaScript. Other axes, empty tensors and other dtypes keep the original
 * kernels. Installed by `initEngine`; idempotent.
 */
import { tf } from '#tfjs-core';
import { isHeapBackend, replaceWasmKernel, type HeapBackend } from './wasm-heap.js';
import { simdHeapOf } from './wasm-simd.js';

let installed = false;

/** Whether the wasm `Sum` and `Mean` replacements are in place. */
export function wasmSumInstalled(): boolean {
  return installed;
}

/** A reduction as the SIMD kernel sees it: sizes before, over and after the reduced axes, and the output shape. */
interface Block {
  readonly pre: number;
  readonly red: number;
  readonly post: number;
  readonly shape: number[];
}

/** The block of a reduction over `axis` of `x`, when the reduced axes are contiguous and nothing is empty. */
function blockOf(x: tf.TensorInfo, axis: number | number[], keepDims: boolean): Block | undefined {
  const rank = x.shape.length;
  const axes = [...new Set(tf.util.parseAxisParam(axis, x.shape))].sort((a, b) => a - b);
  if (axes.length === 0 || axes.some((a, i) => a !== axes[0]! + i)) return undefined;
  const first = axes[0]!;
  const last = axes.at(-1)!;
  const size = (from: number, to: number) => x.shape.slice(from, to).reduce((p, s) => p * s, 1);
  const block = { pre: size(0, first), red: size(first, last + 1), post: size(last + 1, rank) };
  if (block.pre * block.red * block.post === 0) return undefined;
  const shape = keepDims
    ? x.shape.map((s, i) => (axes.includes(i) ? 1 : s))
    : x.shape.filter((_, i) => !axes.includes(i));
  return { ...block, shape };
}

/**
 * A `Sum` (`mean` false) or `Mean` kernel on the SIMD kernel; where that cannot run, `fallback` (when it answers)
 * or the original.
 */
function reduction(
  original: tf.KernelConfig,
  mean: boolean,
  fallback: (backend: HeapBackend, x: tf.TensorInfo, b: Block) => tf.TensorInfo | undefined = () => undefined,
): tf.KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args;
    const x = inputs['x'] as tf.TensorInfo;
    const { axis, keepDims } = attrs as unknown as { axis: number | number[]; keepDims: boolean };
    const b = x.dtype === 'float32' && isHeapBackend(backend) ? blockOf(x, axis, keepDims) : undefined;
    if (b === undefined || !isHeapBackend(backend)) return original.kernelFunc(args);
    const heap = simdHeapOf(backend);
    if (heap === undefined) return fallback(backend, x, b) ?? original.kernelFunc(args);
    const out = heap.output(b.shape);
    heap.run([out], () => heap.simd.sum3(heap.offset(x), heap.offset(out), b.pre, b.red, b.post, mean ? 1 / b.red : 1));
    return out;
  };
}

/** A sum over leading axes in float64 on heap views (where the SIMD kernels cannot run); else undefined. */
function leadingSum(backend: HeapBackend, x: tf.TensorInfo, b: Block): tf.TensorInfo | undefined {
  if (b.pre !== 1 || b.post === 1) return undefined;
  const out = backend.makeOutput(b.shape, 'float32');
  const acc = new Float64Array(b.post);
  const xs = backend.typedArrayFromHeap(x) as Float32Array; // [red, post]
  for (let i = 0; i < b.red; i++) {
    const row = i * b.post;
    for (let j = 0; j < b.post; j++) acc[j]! += xs[row + j]!;
  }
  (backend.typedArrayFromHeap(out) as Float32Array).set(acc);
  return out;
}

/** Replaces the wasm backend's `Sum` and `Mean` (a no-op without wasm kernels, or when installed). */
export function installWasmSum(): void {
  if (installed) return;
  const sum = replaceWasmKernel('Sum', (original) => reduction(original, false, leadingSum));
  const mean = replaceWasmKernel('Mean', (original) => reduction(original, true));
  installed = sum || mean;
}
