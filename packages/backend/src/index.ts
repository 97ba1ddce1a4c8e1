/**
 * `@tide/backend`: the one shared tfjs engine of TIDE.
 *
 * Everything numeric in TIDE runs through the `tf` namespace re-exported here, so that a program holds
 * exactly one copy of `@tensorflow/tfjs-core` (its kernel registry is global).
 *
 * @packageDocumentation
 */
// tfjs-core's typings use the global `Long` of @types/long (one of its dependencies): referenced here so a
// consumer's strict build compiles without skipLibCheck even when its tsconfig restricts `types`.
/// <reference types="long" preserve="true" />
export { tf } from '#tfjs-core';
export { TideError, BackendError, formatShape, describeValue, invariant } from './errors.js';
export type { TideErrorDetails } from './errors.js';
export {
  BACKEND_NAMES,
  MAX_WASM_THREADS,
  initEngine,
  engineInfo,
  activeBackend,
  registeredBackends,
} from './engine.js';
export type { BackendName, EngineInfo, EngineOptions, WasmBinary } from './engine.js';
export { runtimeEnvironment } from './environment.js';
export type { RuntimeEnvironment } from './environment.js';
export { convergenceOrder } from './order.js';
export { registerGradients, gradientsRegistered } from './gradients.js';
export { MASKED_SCORE, checkAttentionCore } from './kernels/attention-core.js';
export type { AttentionCoreInputs, AttentionCoreSizes } from './kernels/attention-core.js';
export { blockedAttention, defaultAttentionBlock, BLOCK_BUDGET } from './kernels/blocked-attention.js';
export { fusedAttentionWebgl, defaultFusedTile, FUSED_TILE_BUDGET } from './kernels/fused-attention-webgl.js';
export { installWasmMatMul, wasmMatMulInstalled } from './kernels/wasm-matmul.js';
export { installWasmSlice, wasmSliceInstalled } from './kernels/wasm-slice.js';
export { installWasmTranspose, wasmTransposeInstalled } from './kernels/wasm-transpose.js';
export { installWasmSum, wasmSumInstalled } from './kernels/wasm-sum.js';
export { installWasmIdentity, wasmIdentityInstalled } from './kernels/wasm-identity.js';
export { useWasmSimdKernels } from './kernels/wasm-simd.js';
export { geluTanh } from './kernels/gelu-tanh.js';
export { standardizeRowsFused } from './kernels/standardize-rows.js';
export { treeLeaves, flattenTree, mapTree, zipTrees, unflattenTree, disposeTree, TreeError } from './tensor-tree.js';
export type { TensorTree, TreeLike } from './tensor-tree.js';
export { seededRandom } from './random.js';
export { hostTensor } from './host-tensor.js';
