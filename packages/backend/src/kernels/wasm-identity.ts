/**
 * `Identity` and same-dtype `Cast` for the wasm backend that share their input's data instead of copying it, as
 * the cpu and webgl backends do (tfjs tensors are immutable: a variable's `assign` swaps its data, never writes
 * into it). tfjs clones every tensor it saves for a gradient (`Identity`): on tfjs-wasm each clone was a copy —
 * 438 copies in one `tide train` step with the defaults (5 ms of 108 ms) — and tfjs's leak check under `IS_TEST`
 * counted those copies of a `tf.customGrad`'s saved tensors as leaked. Installed by `initEngine`; idempotent.
 */
import { tf } from '#tfjs-core';
import { replaceWasmKernel } from './wasm-heap.js';

let installed = false;

/** Whether the wasm `Identity` and `Cast` replacements are in place. */
export function wasmIdentityInstalled(): boolean {
  return installed;
}

interface RefCounted {
  incRef(dataId: tf.DataId): void;
}

/** The input itself, one more reference to its data. */
function shared(backend: unknown, x: tf.TensorInfo): tf.TensorInfo {
  (backend as RefCounted).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

function canShare(backend: unknown, x: tf.TensorInfo): boolean {
  return x.dtype !== 'string' && typeof (backend as Partial<RefCounted>).incRef === 'function';
}

/** Replaces the wasm backend's `Identity` and `Cast` (a no-op without wasm kernels, or when installed). */
export function installWasmIdentity(): void {
  if (installed) return;
  const identity = replaceWasmKernel('Identity', (original) => (args) => {
    const x = args.inputs['x'] as tf.TensorInfo;
    return canShare(args.backend, x) ? shared(args.backend, x) : original.kernelFunc(args);
  });
  const cast = replaceWasmKernel('Cast', (original) => (args) => {
    const x = args.inputs['x'] as tf.TensorInfo;
    const dtype = (args.attrs as unknown as { dtype: tf.DataType }).dtype;
    return dtype === x.dtype && canShare(args.backend, x) ? shared(args.backend, x) : original.kernelFunc(args);
  });
  installed = identity && cast;
}
