/**
 * A faster `BatchMatMul` for the wasm backend when an operand is transposed.
 *
 * tfjs-backend-wasm multiplies `a·bᵀ` and `aᵀ·b` (the flags `transposeB`, `transposeA`) 10–15× slower than the
 * plain product of the same sizes (measured on this project's machine: `[1024, 256]·[64, 256]ᵀ` 10.2 ms, against
 * 0.97 ms with the transpose made explicit). Both variants are everywhere in training: the gradient of `c = a·b`
 * is `dc·bᵀ` and `aᵀ·dc`, and the LM head tied to the token embedding is `h·Wᵀ`. This kernel makes the transpose
 * explicit (the backend's own `Transpose` kernel, then the plain product) for unbatched products — a batch of
 * one — when the other operand has at least 8 rows (columns) to reuse the transposed copy: that measured faster;
 * a single row times a large transposed matrix (the LM head while generating) keeps the original kernel. Batched products (attention's `[B, H, N, d_k]` scores) keep the original
 * kernel, where the explicit transpose measured slower. The result is the same product (floating-point sums in
 * the plain kernel's order).
 *
 * It wraps the registered kernel, so it holds for every op that reaches `BatchMatMul` — `tf.matMul` and the
 * gradients alike. Installed by `initEngine`; idempotent.
 */
import * as tf from '@tensorflow/tfjs-core';

let installed = false;

/** The free dimension of the other operand from which making a transpose explicit pays (see the kernel). */
const EXPLICIT_MIN = 8;

/** Whether the wasm `BatchMatMul` wrapper is in place. */
export function wasmMatMulInstalled(): boolean {
  return installed;
}

function batchOf(shape: readonly number[]): number {
  return shape.slice(0, -2).reduce((p, s) => p * s, 1);
}

/** Swaps the last two axes: `[…, m, n]` → `[…, n, m]`. */
function lastTwoSwapped(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1]!, perm[rank - 2]!];
  return perm;
}

/**
 * Replaces the wasm backend's `BatchMatMul` kernel with the wrapper above (a no-op when the wasm backend or its
 * kernels are not registered, or when already installed).
 */
export function installWasmMatMul(): void {
  if (installed) return;
  const original = tf.getKernel('BatchMatMul', 'wasm');
  const transpose = tf.getKernel('Transpose', 'wasm');
  if (original === undefined || transpose === undefined) return;
  const kernelFunc: tf.KernelFunc = (args) => {
    const { inputs, backend, attrs } = args;
    const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = attrs as { transposeA?: boolean; transposeB?: boolean };
    if ((!transposeA && !transposeB) || batchOf(a.shape) !== 1 || batchOf(b.shape) !== 1)
      return original.kernelFunc(args);
    // Transposing an operand costs its size; the product costs that times the other side's free dimension (the
    // rows of a for b, the columns of b for a). Below EXPLICIT_MIN of those the transposed kernel is cheaper
    // (measured: a·Wᵀ with W [50257, 768] is 4× faster as transposeB for one row of a, 4× slower for 64 rows).
    const ra = a.shape.length;
    const rb = b.shape.length;
    const rows = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!; // M
    const cols = transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!; // N
    const explicitA = transposeA === true && cols >= EXPLICIT_MIN;
    const explicitB = transposeB === true && rows >= EXPLICIT_MIN;
    if (!explicitA && !explicitB) return original.kernelFunc(args);
    const made: tf.TensorInfo[] = [];
    const explicit = (x: tf.TensorInfo): tf.TensorInfo => {
      const t = transpose.kernelFunc({ inputs: { x }, backend, attrs: { perm: lastTwoSwapped(x.shape.length) } });
      made.push(t as tf.TensorInfo);
      return t as tf.TensorInfo;
    };
    try {
      return original.kernelFunc({
        inputs: { a: explicitA ? explicit(a) : a, b: explicitB ? explicit(b) : b },
        backend,
        attrs: {
          ...attrs,
          transposeA: transposeA === true && !explicitA,
          transposeB: transposeB === true && !explicitB,
        },
      });
    } finally {
      for (const t of made) (backend as tf.KernelBackend).disposeData(t.dataId);
    }
  };
  tf.unregisterKernel('BatchMatMul', 'wasm');
  tf.registerKernel({
    kernelName: 'BatchMatMul',
    backendName: 'wasm',
    kernelFunc,
    ...(original.setupFunc && { setupFunc: original.setupFunc }),
    ...(original.disposeFunc && { disposeFunc: original.disposeFunc }),
  });
  installed = true;
}
