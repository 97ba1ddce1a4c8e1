/**
 * A faster `BatchMatMul` for the wasm backend (the backend README, "Matrix products on wasm").
 *
 * tfjs-backend-wasm sends exactly one case to XNNPACK: an unbatched product (a batch of one) without transpose
 * flags. Everything else — `a·bᵀ`, `aᵀ·b`, and every batched product such as attention's `[B, H, N, d_k]` scores —
 * runs a naive blocked triple loop, 5–15× slower at the same sizes (measured on this project's machine:
 * `[1024, 256]·[64, 256]ᵀ` 10.2 ms against 0.97 ms with the transpose made explicit; 12 heads of `[256, 64]·[64,
 * 256]` 29.8 ms against 3.6 ms). Both are everywhere: the gradient of `c = a·b` is `dc·bᵀ` and `aᵀ·dc`, the LM head
 * tied to the token embedding is `h·Wᵀ`, and every attention product is batched over heads. This kernel
 *
 * - runs every batched product, and every `aᵀ·b` (weight gradients), with at least {@link SIMD_MIN_ROWS} rows on
 *   TIDE's SIMD kernel (kernels/wasm-simd.ts: transposes read through strides, one call per batch), except a batch
 *   of untransposed `a` against a single `b`, which is one stacked XNNPACK product (below); where that kernel
 *   cannot run, the XNNPACK paths below take these products too;
 * - makes a transpose explicit (the backend's own `Transpose` kernel) when the other operand has at least
 *   {@link EXPLICIT_MIN} rows (columns) to reuse the transposed copy; a single row times a large transposed matrix
 *   (the LM head while generating) keeps the transposed kernel;
 * - runs a batched product as one XNNPACK product per batch element on views of the operands and of the output
 *   in the wasm heap (no copies), when each product has at least {@link EXPLICIT_MIN} rows — XNNPACK packs the
 *   right operand per call, which pays from a few rows on. Batch dimensions must be equal or one operand's batch
 *   must be one (broadcast); other broadcasts keep the original kernel. A batch of `a` against a single `b` is one
 *   product of the stacked rows of `a`.
 *
 * The result is the same product up to the order of floating-point sums. It wraps the registered kernel, so it
 * holds for every op that reaches `BatchMatMul` — `tf.matMul` and the gradients alike. The views use the wasm
 * backend's internals (tfjs-backend-wasm 4.22: its tensor table and `registerTensor`); when they are not there the
 * batched products keep the original kernel. Installed by `initEngine`; idempotent.
 */
import { tf } from '#tfjs-core';
import { isHeapBackend, replaceWasmKernel } from './wasm-heap.js';
import { bmmScratch, simdHeapOf, type SimdHeap } from './wasm-simd.js';

let installed = false;

/** The free dimension of the other operand from which making a transpose explicit, or packing it for XNNPACK, pays. */
const EXPLICIT_MIN = 8;

/** What the batched path uses of the wasm backend (tfjs-backend-wasm 4.22). */
interface WasmInternals {
  readonly wasm: {
    cwrap(name: string, ret: null, args: string[]): (...args: unknown[]) => void;
    readonly tfjs: { registerTensor(id: number, size: number, offset: number): void; disposeData(id: number): void };
  };
  readonly dataIdMap: {
    get(dataId: object): { memoryOffset: number } | undefined;
    set(dataId: object, data: object): void;
    delete(dataId: object): void;
  };
  dataIdNextNumber: number;
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
  disposeData(dataId: object): boolean;
}

function internalsOf(backend: unknown): WasmInternals | undefined {
  const b = backend as Partial<WasmInternals> | undefined;
  const ok =
    typeof b?.wasm?.cwrap === 'function' &&
    typeof b.wasm.tfjs?.registerTensor === 'function' &&
    typeof b.wasm.tfjs.disposeData === 'function' &&
    typeof b.dataIdMap?.get === 'function' &&
    typeof b.dataIdNextNumber === 'number' &&
    typeof b.makeOutput === 'function';
  return ok ? (b as WasmInternals) : undefined;
}

/** The wasm entry of the plain product, per wasm instance (a backend re-created after disposal has a new one). */
const plainProducts = new WeakMap<object, (...args: unknown[]) => void>();

function shapeBytes(shape: readonly number[]): Uint8Array {
  return new Uint8Array(new Int32Array(shape).buffer);
}

/**
 * `c[i] = a[i]·b[i]` for `a` `[Ba, M, K]` and `b` `[Bb, K, N]` (no transposes; `Ba`, `Bb` equal or one of them 1),
 * written into a new `[max(Ba, Bb), M, N]` output: one XNNPACK product per batch element on heap views.
 */
function batchedOnViews(
  w: WasmInternals,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  [batchA, m, k]: readonly number[],
  [batchB, , n]: readonly number[],
): tf.TensorInfo {
  let plain = plainProducts.get(w.wasm);
  if (plain === undefined) {
    plain = w.wasm.cwrap('BatchMatMul', null, [
      'number',
      'array',
      'number',
      'number',
      'array',
      'number',
      'number',
      'number',
      'number',
    ]);
    plainProducts.set(w.wasm, plain);
  }
  const batch = Math.max(batchA!, batchB!);
  const out = w.makeOutput([batch, m!, n!], 'float32'); // [B, M, N]
  const base = (t: tf.TensorInfo) => w.dataIdMap.get(t.dataId)!.memoryOffset;
  const [aBase, bBase, outBase] = [base(a), base(b), base(out)];
  const aShape = shapeBytes([1, m!, k!]);
  const bShape = shapeBytes([1, k!, n!]);
  const view = (offset: number, size: number) => {
    const id = w.dataIdNextNumber++;
    w.wasm.tfjs.registerTensor(id, size, offset);
    return id;
  };
  for (let i = 0; i < batch; i++) {
    const aId = view(aBase + 4 * (batchA === 1 ? 0 : i) * m! * k!, m! * k!); // [1, M, K]
    const bId = view(bBase + 4 * (batchB === 1 ? 0 : i) * k! * n!, k! * n!); // [1, K, N]
    const outId = view(outBase + 4 * i * m! * n!, m! * n!); // [1, M, N]
    try {
      plain(aId, aShape, 3, bId, bShape, 3, 0, 0, outId);
    } finally {
      // Unregistering (never freeing: the memory is the operands') also drops XNNPACK's packed copy of b.
      for (const id of [aId, bId, outId]) w.wasm.tfjs.disposeData(id);
    }
  }
  return out;
}

/** Rows of the product from which TIDE's SIMD kernel (register tiles of 4 rows) takes it. */
const SIMD_MIN_ROWS = 4;

/** Whether the batch axes broadcast as the batched paths handle them: equal, or one side a batch of one. */
function batchesCompatible(a: readonly number[], b: readonly number[]): boolean {
  const batchA = batchOf(a);
  const batchB = batchOf(b);
  return (
    batchA > 0 &&
    batchB > 0 &&
    (batchA === batchB || batchA === 1 || batchB === 1) &&
    (a.length === b.length || batchA === 1 || batchB === 1) &&
    a.slice(0, -2).every((s, i) => batchA === 1 || batchB === 1 || s === b[i])
  );
}

/**
 * The product on TIDE's SIMD kernel (kernels/wasm-simd.ts): every transpose read through strides (no transposed
 * copy), a broadcast batch through a batch stride of 0, one call for the whole batch. Undefined when the heap has
 * no room for the packed right operand.
 */
function simdProduct(
  { simd, output, offset, run }: SimdHeap,
  backend: tf.KernelBackend,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  attrs: tf.NamedAttrMap,
): tf.TensorInfo | undefined {
  const { transposeA, transposeB } = attrs as { transposeA?: boolean; transposeB?: boolean };
  const [ar, ac] = a.shape.slice(-2) as [number, number]; // a's stored [rows, cols]
  const [br, bc] = b.shape.slice(-2) as [number, number];
  const m = transposeA ? ac : ar;
  const k = transposeA ? ar : ac;
  const n = transposeB ? br : bc;
  const batchA = batchOf(a.shape);
  const batchB = batchOf(b.shape);
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const out = output([...outer, m, n]); // [..., M, N]
  const scratch = simd.malloc(4 * bmmScratch(k, n));
  if (scratch === 0) {
    // The heap is full: free the output and let the other paths (or their own allocation failure) answer.
    backend.disposeData(out.dataId);
    return undefined;
  }
  try {
    run([out], () =>
      simd.bmm(
        offset(a),
        offset(b),
        offset(out),
        scratch,
        Math.max(batchA, batchB),
        m,
        k,
        n,
        batchA === 1 ? 0 : ar * ac,
        transposeA ? 1 : ac,
        transposeA ? ac : 1,
        batchB === 1 ? 0 : br * bc,
        transposeB ? 1 : bc,
        transposeB ? bc : 1,
      ),
    );
  } finally {
    simd.free(scratch);
  }
  return out;
}

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
  if (tf.getKernel('Transpose', 'wasm') === undefined) return;
  installed = replaceWasmKernel('BatchMatMul', (original) => {
    const kernelFunc: tf.KernelFunc = (args) => {
      const { inputs, backend, attrs } = args;
      const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      const { transposeA, transposeB } = attrs as { transposeA?: boolean; transposeB?: boolean };
      const ra = a.shape.length;
      const rb = b.shape.length;
      const rows = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!; // M
      const inner = transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!; // K
      const cols = transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!; // N
      const batchA = batchOf(a.shape);
      const batchB = batchOf(b.shape);
      // Empty operands (tfjs-wasm's kernel divides by zero on an empty batch): the empty, or all-zero, product.
      const empty = batchA === 0 || batchB === 0 || rows === 0 || cols === 0 || inner === 0;
      if (empty && a.dtype === 'float32' && b.dtype === 'float32' && isHeapBackend(backend)) {
        const outer = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
        const out = backend.makeOutput([...outer, rows, cols], 'float32'); // [..., M, N]
        backend.typedArrayFromHeap(out).fill(0); // Σ over no terms
        return out;
      }
      const batched = batchA !== 1 || batchB !== 1;
      const heap =
        a.dtype === 'float32' &&
        b.dtype === 'float32' &&
        rows >= SIMD_MIN_ROWS &&
        (batched ? transposeA === true || batchB !== 1 : transposeA === true) &&
        batchesCompatible(a.shape, b.shape)
          ? simdHeapOf(backend)
          : undefined;
      const product = heap && simdProduct(heap, backend as tf.KernelBackend, a, b, attrs ?? {});
      if (product !== undefined) return product;
      const internals = batched ? internalsOf(backend) : undefined;
      const onViews =
        internals !== undefined &&
        a.dtype === 'float32' &&
        b.dtype === 'float32' &&
        rows >= EXPLICIT_MIN &&
        inner > 0 &&
        cols > 0 &&
        batchesCompatible(a.shape, b.shape);
      // A batch of a against one b (b broadcast, a not transposed): a's rows are contiguous, so this is one product
      // [Ba·M, K]·[K, N]; b is packed once, and XNNPACK keeps the packing between calls while b lives.
      if (onViews && batchB === 1 && transposeA !== true) {
        const stacked = { dataId: a.dataId, shape: [batchA * rows, inner], dtype: a.dtype }; // [Ba·M, K]
        const single = { dataId: b.dataId, shape: b.shape.slice(-2), dtype: b.dtype }; // [K, N] (or [N, K])
        const out = kernelFunc({
          inputs: { a: stacked, b: single },
          backend,
          attrs: { transposeA: false, transposeB: transposeB === true },
        });
        const outer = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
        return { ...(out as tf.TensorInfo), shape: [...outer, rows, cols] }; // [..., M, N]
      }
      if (batched && !onViews) return original.kernelFunc(args);
      // Transposing an operand costs its size; the product costs that times the other side's free dimension (the
      // rows of a for b, the columns of b for a). Below EXPLICIT_MIN of those the transposed kernel is cheaper
      // (measured: a·Wᵀ with W [50257, 768] is 4× faster as transposeB for one row of a, 4× slower for 64 rows).
      const explicitA = transposeA === true && (onViews || cols >= EXPLICIT_MIN);
      const explicitB = transposeB === true && (onViews || rows >= EXPLICIT_MIN);
      if (!onViews && !explicitA && !explicitB) return original.kernelFunc(args);
      const made: tf.TensorInfo[] = [];
      const explicit = (x: tf.TensorInfo): tf.TensorInfo => {
        // Looked up per call: the backend's fastest Transpose (kernels/wasm-transpose.ts) whenever it was installed.
        const transpose = tf.getKernel('Transpose', 'wasm')!;
        const t = transpose.kernelFunc({ inputs: { x }, backend, attrs: { perm: lastTwoSwapped(x.shape.length) } });
        made.push(t as tf.TensorInfo);
        return t as tf.TensorInfo;
      };
      try {
        const a2 = explicitA ? explicit(a) : a;
        const b2 = explicitB ? explicit(b) : b;
        if (onViews) {
          const out = batchedOnViews(internals, a2, b2, [batchA, rows, inner], [batchB, inner, cols]);
          // The broadcast batch axes, as tfjs forms them (a batch of one may carry more axes than the other).
          const outer = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
          return { ...out, shape: [...outer, rows, cols] }; // [..., M, N]
        }
        return original.kernelFunc({
          inputs: { a: a2, b: b2 },
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
    return kernelFunc;
  });
}
