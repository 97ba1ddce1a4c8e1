/**
 * The tfjs backends the engine registers (loading a backend's module registers it), as ES modules: every one is
 * loaded with the engine, and {@link loadBackend} has nothing left to do. In Node the package's imports map
 * ("#tfjs-backends") selects `backends.node.ts`, which loads wasm with `require` and cpu only when asked for.
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';

export * as wasmBackend from '@tensorflow/tfjs-backend-wasm';

/** Makes sure the module of backend `name` is loaded (its backend and kernels registered). */
export function loadBackend(name: 'cpu' | 'wasm' | 'webgl'): void {
  void name; // loaded above
}
