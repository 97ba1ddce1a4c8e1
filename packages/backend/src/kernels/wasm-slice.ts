/**
 * `Slice`, `SplitV` and `Unpack` for the wasm backend without copying their whole input (the backend README,
 * "Matrix products on wasm").
 *
 * tfjs-backend-wasm 4.22's `Slice` first reads its entire input out of the wasm heap into a fresh JavaScript array
 * (`readSync`), then copies the requested part: slicing one head out of `[N, 3d]` projections, or one of three
 * parts out of a fused `[d, 3d]` weight, costs the whole tensor each time (measured: 28 ms of a 0.27 s GPT-2-shaped
 * forward pass, 11 ms of its checkpoint load). `SplitV` and `Unpack` slice the same way. These kernels copy only
 * the requested elements, from views of the heap: runs of `size[j]·∏_{i>j} shape[i]` contiguous elements, where
 * `j` is the last axis that is not taken whole. Strings keep the original kernels. Installed by `initEngine`;
 * idempotent.
 */
import { tf } from '#tfjs-core';
import { isHeapBackend, replaceWasmKernel, type HeapBackend } from './wasm-heap.js';

let installed = false;

/** Whether the wasm `Slice`, `SplitV` and `Unpack` replacements are in place. */
export function wasmSliceInstalled(): boolean {
  return installed;
}

/** `x[begin : begin + size]` (sizes already resolved, no −1) into a new tensor of shape `size`. */
function sliceOnHeap(backend: HeapBackend, x: tf.TensorInfo, begin: readonly number[], size: readonly number[]) {
  const out = backend.makeOutput([...size], x.dtype);
  const total = size.reduce((p, s) => p * s, 1);
  if (total === 0) return out;
  // Views only after makeOutput: an allocation may grow the heap and detach earlier views.
  const xs = backend.typedArrayFromHeap(x);
  const os = backend.typedArrayFromHeap(out);
  const shape = x.shape;
  const rank = shape.length;
  let j = rank - 1; // the last axis not taken whole
  while (j >= 0 && begin[j] === 0 && size[j] === shape[j]) j--;
  if (j < 0) {
    os.set(xs);
    return out;
  }
  const strides = new Array<number>(rank).fill(1); // strides of x
  for (let i = rank - 2; i >= 0; i--) strides[i] = strides[i + 1]! * shape[i + 1]!;
  const run = size[j]! * strides[j]!; // contiguous elements per copy
  const index = new Array<number>(j).fill(0); // position in size[0 … j−1]
  const runs = total / run;
  for (let r = 0; r < runs; r++) {
    let offset = begin[j]! * strides[j]!;
    for (let i = 0; i < j; i++) offset += (begin[i]! + index[i]!) * strides[i]!;
    os.set(xs.subarray(offset, offset + run), r * run);
    for (let i = j - 1; i >= 0; i--) {
      if (++index[i]! < size[i]!) break;
      index[i] = 0;
    }
  }
  return out;
}

/** Replaces the wasm backend's `Slice`, `SplitV` and `Unpack` (a no-op without wasm kernels, or when installed). */
export function installWasmSlice(): void {
  if (installed || tf.getKernel('Slice', 'wasm') === undefined) return;
  replaceWasmKernel('Slice', (original) => (args) => {
    const { inputs, backend, attrs } = args;
    const x = inputs['x'] as tf.TensorInfo;
    if (x.dtype === 'string' || !isHeapBackend(backend)) return original.kernelFunc(args);
    const { begin, size } = attrs as unknown as { begin: number | number[]; size: number | number[] };
    const [b, s] = tf.slice_util.parseSliceParams(x as tf.TensorInfo as tf.Tensor, begin, size);
    return sliceOnHeap(backend, x, b, s);
  });
  replaceWasmKernel('SplitV', (original) => (args) => {
    const { inputs, backend, attrs } = args;
    const x = inputs['x'] as tf.TensorInfo;
    if (x.dtype === 'string' || !isHeapBackend(backend)) return original.kernelFunc(args);
    const { numOrSizeSplits, axis } = attrs as unknown as { numOrSizeSplits: number | number[]; axis: number };
    const a = tf.util.parseAxisParam(axis, x.shape)[0]!;
    const sizes = tf.backend_util.prepareSplitSize(x as tf.TensorInfo as tf.Tensor, numOrSizeSplits, a);
    const begin = new Array<number>(x.shape.length).fill(0);
    return sizes.map((part) => {
      const size = [...x.shape];
      size[a] = part;
      const out = sliceOnHeap(backend, x, begin, size);
      begin[a]! += part;
      return out;
    });
  });
  replaceWasmKernel('Unpack', (original) => (args) => {
    const { inputs, backend, attrs } = args;
    const x = inputs['value'] as tf.TensorInfo;
    if (x.dtype === 'string' || !isHeapBackend(backend)) return original.kernelFunc(args);
    const a = tf.util.parseAxisParam((attrs as unknown as { axis: number }).axis, x.shape)[0]!;
    const outShape = x.shape.filter((_, i) => i !== a);
    const begin = new Array<number>(x.shape.length).fill(0);
    const size = [...x.shape];
    size[a] = 1;
    return Array.from({ length: x.shape[a]! }, (_, i) => {
      begin[a] = i;
      return { ...sliceOnHeap(backend, x, begin, size), shape: outShape };
    });
  });
  installed = true;
}
