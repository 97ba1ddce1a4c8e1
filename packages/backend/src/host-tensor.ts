/**
 * A float32 tensor written once from the host, without an intermediate array where the engine allows it.
 *
 * Checkpoint loading transforms weights on the host (PyTorch's `[out, in]` `Linear` weights become `[in, out]`
 * kernels, docs/checkpoints.md) and uploads the result. On wasm the tensor's memory is a range of the wasm heap:
 * {@link hostTensor} allocates the tensor first and lets `fill` write its values there directly, saving a full
 * host array and the copy into the heap (for GPT-2-small, 0.34 GB of each). On every other backend `fill` writes a
 * fresh host array that is then uploaded.
 */
import { tf } from '#tfjs-core';
import { BackendError, describeValue, formatShape } from './errors.js';

/** What {@link hostTensor} uses of the wasm backend: allocation without values and a view of the heap. */
interface HeapWriter {
  write(values: null, shape: number[], dtype: 'float32'): object;
  typedArrayFromHeap(t: { dataId: object; shape: number[]; dtype: 'float32' }): Float32Array;
}

function heapWriter(backend: tf.KernelBackend): HeapWriter | undefined {
  const b = backend as unknown as Partial<HeapWriter>;
  return tf.getBackend() === 'wasm' && typeof b.write === 'function' && typeof b.typedArrayFromHeap === 'function'
    ? (b as HeapWriter)
    : undefined;
}

/**
 * A new float32 tensor of `shape`; `fill(out)` must write all of its `∏ shape` values, row-major, into `out` (and
 * must not run tfjs operations: on wasm `out` is a view of the heap). The caller owns the tensor. If `fill` throws,
 * nothing is left allocated.
 */
export function hostTensor(shape: readonly number[], fill: (out: Float32Array) => void): tf.Tensor {
  if (!Array.isArray(shape) || !shape.every((s) => Number.isInteger(s) && s >= 0)) {
    throw new BackendError('hostTensor: shape', {
      expected: 'an array of non-negative integers',
      received: describeValue(shape),
      fix: 'pass the tensor shape, e.g. [768, 2304]',
    });
  }
  if (typeof fill !== 'function') {
    throw new BackendError('hostTensor: fill', {
      expected: 'a function (out: Float32Array) => void that writes the values',
      received: describeValue(fill),
      fix: 'pass a function filling the array it is given',
    });
  }
  const size = shape.reduce((p, s) => p * s, 1);
  const backend = tf.backend();
  const heap = size > 0 ? heapWriter(backend) : undefined;
  if (heap === undefined) {
    const out = new Float32Array(size); // [∏ shape]
    fill(out);
    return tf.tensor(out, [...shape], 'float32');
  }
  const dims = [...shape];
  const dataId = heap.write(null, dims, 'float32');
  const t = tf.engine().makeTensorFromDataId(dataId as tf.DataId, dims, 'float32', backend);
  try {
    const view = heap.typedArrayFromHeap({ dataId, shape: dims, dtype: 'float32' });
    if (view.length !== size) {
      throw new BackendError('hostTensor', {
        expected: `a heap view of ${size} floats for shape ${formatShape(dims)}`,
        received: `${view.length}`,
        fix: 'report this: the wasm backend changed how it stores tensors',
      });
    }
    fill(view);
  } catch (e) {
    t.dispose();
    throw e;
  }
  return t;
}
