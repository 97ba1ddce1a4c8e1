/**
 * The tfjs backends in Node (see `core.ts` and `backends.ts`): wasm loaded with `require` at start-up, cpu and
 * webgl only when {@link loadBackend} asks for them (each costs ≈ 7 ms of start-up; a wasm run needs neither).
 */
import { createRequire } from 'node:module';
import type * as Wasm from '@tensorflow/tfjs-backend-wasm';

const load = typeof require === 'function' ? require : createRequire(import.meta.url);

export const wasmBackend = load('@tensorflow/tfjs-backend-wasm') as typeof Wasm;

/** Each backend's module, by a literal name (so that a bundler sees them). */
const MODULES = {
  cpu: () => load('@tensorflow/tfjs-backend-cpu') as unknown,
  wasm: () => wasmBackend as unknown,
  webgl: () => load('@tensorflow/tfjs-backend-webgl') as unknown,
} as const;

/** Makes sure the module of backend `name` is loaded (its backend and kernels registered); idempotent. */
export function loadBackend(name: 'cpu' | 'wasm' | 'webgl'): void {
  MODULES[name]();
}
