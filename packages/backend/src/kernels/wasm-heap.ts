/**
 * What the wasm kernel replacements (wasm-matmul.ts, wasm-slice.ts, wasm-transpose.ts, wasm-sum.ts,
 * wasm-identity.ts) use of tfjs-backend-wasm: outputs allocated in the wasm heap, typed-array views of tensors
 * there, and the swap of a registered kernel.
 */
import { tf } from '#tfjs-core';

/** The wasm backend as these kernels use it. */
export interface HeapBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

/** Whether `b` offers what {@link HeapBackend} names. */
export function isHeapBackend(b: unknown): b is HeapBackend {
  const h = b as Partial<HeapBackend> | undefined;
  return typeof h?.makeOutput === 'function' && typeof h.typedArrayFromHeap === 'function';
}

/**
 * Registers `kernelFunc(original)` as the wasm backend's kernel `name` in place of `original` (keeping its setup
 * and disposal). Returns false when the wasm backend has no such kernel.
 */
export function replaceWasmKernel(name: string, kernelFunc: (original: tf.KernelConfig) => tf.KernelFunc): boolean {
  const original = tf.getKernel(name, 'wasm');
  if (original === undefined) return false;
  tf.unregisterKernel(name, 'wasm');
  tf.registerKernel({
    kernelName: name,
    backendName: 'wasm',
    kernelFunc: kernelFunc(original),
    ...(original.setupFunc && { setupFunc: original.setupFunc }),
    ...(original.disposeFunc && { disposeFunc: original.disposeFunc }),
  });
  return true;
}
