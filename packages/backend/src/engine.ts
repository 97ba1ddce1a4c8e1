/**
 * The one tfjs engine every TIDE package runs on.
 *
 * `initEngine()` picks the backend: `webgl` in a browser (only with float32 render targets — silent
 * fp16 is a known tfjs trap), `wasm` in Node, `cpu` as the fallback everywhere. An explicit choice of a
 * backend that is not available throws a {@link BackendError} listing the ones that are.
 */
import { tf } from '#tfjs-core';
// The backends register themselves when loaded: in a browser all with the engine, in Node wasm with the engine and
// cpu when first needed (src/tfjs/backends*.ts, chosen by the package's imports map). The package's public
// declaration files do not import them, so a consumer's strict build (without skipLibCheck) never type-checks their
// emscripten and WebGL typings. Gradients are registered by initEngine (see ./gradients.ts).
import { loadBackend, wasmBackend } from '#tfjs-backends';
import { BackendError, describeValue } from './errors.js';
import { registerGradients } from './gradients.js';
import { runtimeEnvironment, type RuntimeEnvironment } from './environment.js';
import { installWasmIdentity } from './kernels/wasm-identity.js';
import { installWasmMatMul } from './kernels/wasm-matmul.js';
import { prepareSimdKernels, simdKernelsOf } from './kernels/wasm-simd.js';
import { installWasmSlice } from './kernels/wasm-slice.js';
import { installWasmSum } from './kernels/wasm-sum.js';
import { installWasmTranspose } from './kernels/wasm-transpose.js';

// The wasm backend's products, slices, transposes, sums and copies (kernels/wasm-*.ts): once its kernels are
// registered.
installWasmKernels();

function installWasmKernels(): void {
  installWasmTranspose();
  installWasmMatMul();
  installWasmSlice();
  installWasmSum();
  installWasmIdentity();
}

/** The backends TIDE knows, fastest first. */
export const BACKEND_NAMES = ['webgl', 'wasm', 'cpu'] as const;
/** A tfjs backend TIDE can run on. */
export type BackendName = (typeof BACKEND_NAMES)[number];

/** How to choose the engine. */
export interface EngineOptions {
  /** A backend name, or `'auto'` (default) for the fastest one that works here. */
  readonly backend?: BackendName | 'auto';
  /**
   * Accept a WebGL context without float32 render targets (results then carry fp16 error, ~1e-3).
   * Off by default: such a context is refused explicitly and skipped in `'auto'`.
   */
  readonly allowHalfPrecision?: boolean;
  /**
   * Register the gradients of tfjs-core's kernels (default true), needed by `tf.grad`, training and gradient
   * checks. A program that only evaluates may pass `false`: in Node the registration loads tfjs-core's per-file
   * modules (about 0.5 s). Registering is idempotent; {@link registerGradients} does it on its own.
   */
  readonly gradients?: boolean;
  /**
   * Where the wasm backend finds its binaries (`tfjs-backend-wasm.wasm`, `-simd.wasm`, `-threaded-simd.wasm`):
   * a URL prefix ending in `/`, or a map from each file name to its URL (what a bundler's asset imports give).
   * Needed in a bundled web page, where the binaries are not beside the script; set before wasm first starts.
   */
  readonly wasmPaths?: string | Readonly<Partial<Record<WasmBinary, string>>>;
  /**
   * Node only: XNNPACK threads of the wasm backend (1 … 8; default 1). With more than one, the wasm backend starts
   * from tfjs's threaded build with that many pool threads, so matrix products and convolutions use several cores
   * (results are bitwise those of one thread; element-wise kernels stay on one). It takes effect when wasm first
   * starts in the process; `EngineInfo.threads` says what is in use. Costs ≈ 0.1 s of start-up and ≈ 80 MB for the
   * pool's workers.
   */
  readonly threads?: number;
}

/** The most XNNPACK threads the threaded wasm build's pool holds (Emscripten's pool of 8 workers). */
export const MAX_WASM_THREADS = 8;

/** The binaries of the wasm backend (plain, SIMD, threaded SIMD). */
export type WasmBinary =
  'tfjs-backend-wasm.wasm' | 'tfjs-backend-wasm-simd.wasm' | 'tfjs-backend-wasm-threaded-simd.wasm';
const WASM_BINARIES: readonly WasmBinary[] = [
  'tfjs-backend-wasm.wasm',
  'tfjs-backend-wasm-simd.wasm',
  'tfjs-backend-wasm-threaded-simd.wasm',
];

function checkWasmPaths(paths: unknown): void {
  const ok =
    (typeof paths === 'string' && paths.length > 0) ||
    (typeof paths === 'object' &&
      paths !== null &&
      !Array.isArray(paths) &&
      Object.entries(paths).every(
        ([k, v]) => (WASM_BINARIES as readonly string[]).includes(k) && typeof v === 'string' && v.length > 0,
      ));
  if (!ok) {
    throw new BackendError('initEngine: wasmPaths', {
      expected: `a URL prefix, or a map from ${WASM_BINARIES.join(', ')} to URLs`,
      received: describeValue(paths),
      fix: "pass the folder that serves the .wasm files (ending in '/'), or each file's URL",
    });
  }
}

/** What {@link initEngine} chose, and why. */
export interface EngineInfo {
  /** The active backend. */
  readonly backend: BackendName;
  readonly environment: RuntimeEnvironment;
  /** True when the backend computes in float32 (false only for WebGL with `allowHalfPrecision`). */
  readonly float32: boolean;
  /** Backends tried before the chosen one, with the reason each was passed over. */
  readonly skipped: readonly { readonly backend: BackendName; readonly reason: string }[];
  /** XNNPACK threads of the wasm backend (1 unless `threads` was asked for at its first start); 1 elsewhere. */
  readonly threads: number;
  /**
   * True when TIDE's wasm SIMD kernels run on the active backend (wasm in a runtime with wasm SIMD: the backend
   * README, "Matrix products on wasm"); false elsewhere. As of `initEngine`'s return (see `useWasmSimdKernels`).
   */
  readonly simdKernels: boolean;
}

let current: EngineInfo | undefined;

/** The backends registered in this environment, in order of preference. */
export function registeredBackends(): BackendName[] {
  return backendOrder().filter(registered);
}

/** The backends TIDE tries here, fastest first (webgl exists only in a browser). */
function backendOrder(): readonly BackendName[] {
  return runtimeEnvironment() === 'browser' ? BACKEND_NAMES : ['wasm', 'cpu'];
}

/**
 * Whether backend `name` is registered, loading its module first when it is not loaded yet (in Node the cpu
 * backend loads on first use). A backend whose package is not installed is not registered; any other failure to
 * load it is thrown.
 */
function registered(name: BackendName): boolean {
  try {
    loadBackend(name);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code !== 'MODULE_NOT_FOUND' && code !== 'ERR_MODULE_NOT_FOUND') throw error;
    return false; // its package is not installed
  }
  return tf.findBackendFactory(name) !== null;
}

function isBackendName(value: unknown): value is BackendName {
  return typeof value === 'string' && (BACKEND_NAMES as readonly string[]).includes(value);
}

/** Tries to activate one backend; returns the reason on failure, `undefined` on success. */
async function tryActivate(
  name: BackendName,
  allowHalfPrecision: boolean,
  threads = 1,
): Promise<{ reason?: string; float32: boolean }> {
  let ok: boolean;
  // Threads are decided when wasm first starts in the process (see ./node/wasm-threads.ts). (`tf.findBackend` would
  // start it, so the registry is read instead.)
  const started = tf.engine().registry['wasm'] !== undefined;
  const finish =
    name === 'wasm' && threads > 1 && runtimeEnvironment() === 'node' && !started
      ? (await import('./node/wasm-threads.js')).prepareWasmThreads(wasmBackend, threads)
      : undefined;
  try {
    ok = await tf.setBackend(name);
    await tf.ready();
  } catch (error) {
    return { reason: `initialisation threw: ${(error as Error).message ?? String(error)}`, float32: false };
  } finally {
    finish?.();
  }
  if (!ok || tf.getBackend() !== name) return { reason: 'tfjs could not initialise it', float32: false };
  if (name === 'webgl') {
    // Without float32 render targets tfjs silently computes in fp16.
    tf.env().set('WEBGL_CPU_FORWARD', false);
    const float32 = tf.env().getBool('WEBGL_RENDER_FLOAT32_ENABLED');
    if (!float32) {
      if (!allowHalfPrecision) {
        return { reason: 'this WebGL context cannot render to float32 textures (results would be fp16)', float32 };
      }
      console.warn(
        '[@tide/backend] WARNING: WebGL runs WITHOUT float32 render targets; every result carries fp16 error (~1e-3).',
      );
    }
    return { float32 };
  }
  if (name === 'wasm') await prepareSimdKernels(tf.engine().backend); // TIDE's SIMD kernels on this heap
  return { float32: true };
}

/**
 * Gets the engine ready and says which backend it chose.
 *
 * - `backend: 'auto'` (default): browser → webgl (float32 only), then wasm, then cpu; Node → wasm, then cpu.
 * - `backend: name`: exactly that backend, or a {@link BackendError} that lists the available ones.
 *
 * Safe to call again: it switches the active backend.
 */
export async function initEngine(options: EngineOptions = {}): Promise<EngineInfo> {
  const requested = options.backend ?? 'auto';
  const allowHalf = options.allowHalfPrecision ?? false;
  // Listing what is registered loads every backend's module: only an error message needs it.
  const available = () => registeredBackends();
  if (requested !== 'auto' && !isBackendName(requested)) {
    throw new BackendError('initEngine: backend', {
      expected: `one of 'auto', ${BACKEND_NAMES.map((b) => `'${b}'`).join(', ')}`,
      received: describeValue(requested),
      fix: `pass one of the backends available here: ${available().join(', ')}`,
    });
  }
  if (options.wasmPaths !== undefined) {
    checkWasmPaths(options.wasmPaths);
    wasmBackend.setWasmPaths(options.wasmPaths as Parameters<typeof wasmBackend.setWasmPaths>[0]);
  }
  const threads = options.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_WASM_THREADS)
    throw new BackendError('initEngine: threads', {
      expected: `an integer from 1 to ${MAX_WASM_THREADS} (XNNPACK threads of the wasm backend in Node)`,
      received: describeValue(threads),
      fix: `pass the number of cores to use, e.g. threads: ${Math.min(MAX_WASM_THREADS, 2)}`,
    });
  installWasmKernels(); // idempotent: for a wasm backend registered after this module loaded
  if (!tf.env().getBool('PROD')) tf.env().set('PROD', true);
  if (options.gradients ?? true) await registerGradients();
  const environment = runtimeEnvironment();
  const candidates = requested === 'auto' ? backendOrder() : [requested];
  if (requested !== 'auto' && !(backendOrder().includes(requested) && registered(requested))) {
    throw new BackendError('initEngine: backend', {
      expected: `a backend registered in this ${environment} environment (${available().join(', ')})`,
      received: `'${requested}'`,
      fix:
        requested === 'webgl'
          ? 'WebGL exists only in a browser; use wasm or cpu in Node'
          : `choose one of: ${available().join(', ')}`,
    });
  }
  const skipped: { backend: BackendName; reason: string }[] = [];
  for (const name of candidates) {
    if (!registered(name)) {
      skipped.push({ backend: name, reason: 'not registered (its tfjs package is not installed)' });
      continue;
    }
    const result = await tryActivate(name, allowHalf, threads);
    if (result.reason === undefined) {
      const simdKernels = name === 'wasm' && simdKernelsOf(tf.engine().backend) !== undefined;
      current = {
        backend: name,
        environment,
        float32: result.float32,
        skipped,
        threads: threadsInUse(name),
        simdKernels,
      };
      return current;
    }
    skipped.push({ backend: name, reason: result.reason });
  }
  throw new BackendError('initEngine', {
    expected: requested === 'auto' ? 'at least one working backend' : `backend '${requested}' to initialise`,
    received: skipped.map((s) => `${s.backend}: ${s.reason}`).join('; '),
    fix:
      requested === 'auto'
        ? 'check that @tensorflow/tfjs-backend-wasm is installed, or pass backend: "cpu"'
        : `use another backend (${available()
            .filter((b) => b !== requested)
            .join(', ')})`,
  });
}

/** The XNNPACK threads the active backend computes with (the wasm backend's pool; 1 for the others). */
function threadsInUse(name: BackendName): number {
  if (name !== 'wasm') return 1;
  try {
    return Math.max(1, wasmBackend.getThreadsCount());
  } catch {
    return 1;
  }
}

/** The engine chosen by the last {@link initEngine} call, if any. */
export function engineInfo(): EngineInfo | undefined {
  return current !== undefined && tf.getBackend() === current.backend ? current : undefined;
}

/** The active tfjs backend's name; throws a {@link BackendError} when no TIDE backend is active. */
export function activeBackend(): BackendName {
  const name = tf.getBackend();
  if (!isBackendName(name)) {
    throw new BackendError('activeBackend', {
      expected: 'an active TIDE backend',
      received: describeValue(name),
      fix: 'await initEngine() before running operators',
    });
  }
  return name;
}
