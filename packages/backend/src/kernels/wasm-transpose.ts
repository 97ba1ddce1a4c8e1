/**
 * `Transpose` for the wasm backend when it swaps the last two axes — `[…, m, n]` → `[…, n, m]`, a matrix
 * transpose per batch element — written from views of the heap in bands of rows (the backend README, "Matrix
 * products on wasm"). tfjs-wasm's own transpose takes ≈ 7 ns a float here (1.8 ms for `[1024, 256]`); this one
 * ≈ 2 ns. It is the transpose the matrix-product kernel makes explicit (kernels/wasm-matmul.ts) for every weight
 * gradient `xᵀ·dy`. Other permutations and dtypes keep the original kernel. Installed by `initEngine`; idempotent.
 */
import { tf } from '#tfjs-core';
import { isHeapBackend, replaceWasmKernel } from './wasm-heap.js';

let installed = false;

/** Whether the wasm `Transpose` replacement is in place. */
export function wasmTransposeInstalled(): boolean {
  return installed;
}

/** Rows of a matrix read per band while its columns are written out contiguously. */
const BAND = 64;

/** Whether `perm` keeps every axis but the last two and swaps those. */
function swapsLastTwo(perm: readonly number[]): boolean {
  const r = perm.length;
  return r >= 2 && perm[r - 2] === r - 1 && perm[r - 1] === r - 2 && perm.slice(0, -2).every((p, i) => p === i);
}

/** `out[b, j, i] = x[b, i, j]` for `batch` matrices `[rows, cols]`. */
function transposeMatrices(
  out: Float32Array | Int32Array,
  x: Float32Array | Int32Array,
  batch: number,
  rows: number,
  cols: number,
): void {
  const size = rows * cols;
  for (let b = 0; b < batch; b++) {
    const base = b * size;
    for (let i0 = 0; i0 < rows; i0 += BAND) {
      const i1 = Math.min(i0 + BAND, rows);
      for (let j = 0; j < cols; j++) {
        const o = base + j * rows;
        for (let i = i0, src = base + i0 * cols + j; i < i1; i++, src += cols) out[o + i] = x[src]!;
      }
    }
  }
}

/** Replaces the wasm backend's `Transpose` (a no-op without wasm kernels, or when installed). */
export function installWasmTranspose(): void {
  if (installed) return;
  installed = replaceWasmKernel('Transpose', (original) => (args) => {
    const { inputs, backend, attrs } = args;
    const x = inputs['x'] as tf.TensorInfo;
    const perm = (attrs as unknown as { perm: number[] }).perm;
    if ((x.dtype !== 'float32' && x.dtype !== 'int32') || !swapsLastTwo(perm) || !isHeapBackend(backend))
      return original.kernelFunc(args);
    const r = x.shape.length;
    const rows = x.shape[r - 2]!;
    const cols = x.shape[r - 1]!;
    const outShape = [...x.shape.slice(0, -2), cols, rows];
    const out = backend.makeOutput(outShape, x.dtype);
    const size = rows * cols;
    if (size === 0) return out;
    // Views only after makeOutput: an allocation may grow the heap and detach earlier views.
    const xs = backend.typedArrayFromHeap(x) as Float32Array | Int32Array;
    const os = backend.typedArrayFromHeap(out) as Float32Array | Int32Array;
    transposeMatrices(os, xs, xs.length / size, rows, cols);
    return out;
  });
}
