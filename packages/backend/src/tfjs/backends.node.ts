/**
 * The tfjs backends in Node (see `core.ts` and `backends.ts`): wasm loaded with `require` at start-up, cpu and
 * webgl only when {@link loadBackend} asks for them (each costs ≈ 7 ms of start-up; a wasm run needs neither).
 */
import { createRequire } from 'node:module';
import type * as Wasm from '@tensorflow/tfjs-backend-wasm';

const require = createRequire(import.meta.url);

export const wasmBackend = require('@tensorflow/tfjs-backend-wasm') as typeof Wasm;

const MODULES = {
  cpu: '@tensorflow/tfjs-backend-cpu',
  wasm: '@tensorflow/tfjs-backend-wasm',
  webgl: '@tensorflow/tfjs-backend-webgl',
} as const;

/** Makes sure the module of backend `name` is loaded (its backend and kernels registered); idempotent. */
export function loadBackend(name: 'cpu' | 'wasm' | 'webgl'): void {
  require(MODULES[name]);
}
