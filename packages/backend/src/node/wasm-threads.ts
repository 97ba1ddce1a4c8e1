/**
 * XNNPACK threads for the wasm backend in Node (the backend README, "Threads in Node"). tfjs's
 * threaded wasm build decides its pool size once, when the module starts: `num_cores = logical cores / 2`, and
 * `setThreadsCount(n)` is capped at that. In Node the Emscripten glue counts cores with `os.cpus().length`, so on
 * a 2-core machine the pool gets one thread whatever is asked. It also hands Node's `worker_threads` Blob URLs,
 * which Node cannot load. {@link prepareWasmThreads} works around both for the duration of the start-up: it
 * reports `2·n` cores while the module starts, writes the Blob scripts to a temporary folder (deleted once every
 * pool worker has loaded), and asks tfjs for the threaded build with `n` threads. Only the XNNPACK kernels
 * (matrix products, convolutions) run on the pool; element-wise kernels stay on one thread. Results are bitwise
 * those of one thread (measured: tools/bench/wasm-threads-probe2.cjs).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import workerThreads from 'node:worker_threads';
import { tf } from '#tfjs-core';
import type * as wasmBackend from '@tensorflow/tfjs-backend-wasm';

/** The names the threaded factory's source refers to in the bundle: the worker gets the same ones. */
const PRELUDE =
  "var require$$0=require('fs');var require$$1=require('path');var require$$4=require('os');var commonjsGlobal=globalThis;";

/**
 * Prepares the wasm backend's first start for `threads` XNNPACK threads; returns `finish`, to call once
 * `tf.setBackend('wasm')` has settled (successfully or not): it restores what was patched, deletes the scripts and
 * lets the process exit while the pool's workers idle.
 */
export function prepareWasmThreads(wasm: Pick<typeof wasmBackend, 'setThreadsCount'>, threads: number): () => void {
  const dir = mkdtempSync(join(os.tmpdir(), 'tide-wasm-threads-'));
  const NativeBlob = globalThis.Blob;
  const nativeCreateObjectURL = URL.createObjectURL;
  const NativeWorker = workerThreads.Worker;
  const cpus = os.cpus;
  const texts = new WeakMap<Blob, string>();
  globalThis.Blob = class RecordingBlob extends NativeBlob {
    constructor(parts?: BlobPart[], options?: BlobPropertyBag) {
      super(parts, options);
      texts.set(this, (parts ?? []).map(String).join(''));
    }
  };
  const files = new Map<string, string>();
  const toFile = (blob: Blob): string => {
    const text = texts.get(blob) ?? '';
    let file = files.get(text);
    if (file === undefined) {
      file = join(dir, `script${files.size}.js`);
      writeFileSync(file, PRELUDE + text);
      files.set(text, file);
    }
    return file;
  };
  URL.createObjectURL = toFile as typeof URL.createObjectURL;
  (workerThreads as { Worker: typeof NativeWorker }).Worker = class FileWorker extends NativeWorker {
    override postMessage(message: unknown, transfer?: Parameters<InstanceType<typeof NativeWorker>['postMessage']>[1]) {
      const m = message as { cmd?: string; urlOrBlob?: unknown } | null;
      if (m?.cmd === 'load' && m.urlOrBlob instanceof NativeBlob) message = { ...m, urlOrBlob: toFile(m.urlOrBlob) };
      return super.postMessage(message, transfer);
    }
  };
  const first = cpus()[0]!;
  os.cpus = () => Array.from({ length: 2 * threads }, () => first);
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  wasm.setThreadsCount(threads);
  return () => {
    os.cpus = cpus;
    URL.createObjectURL = nativeCreateObjectURL;
    globalThis.Blob = NativeBlob;
    (workerThreads as { Worker: typeof NativeWorker }).Worker = NativeWorker;
    rmSync(dir, { recursive: true, force: true });
    const backend = tf.findBackend('wasm') as {
      wasm?: { PThread?: { runningWorkers: { unref(): void }[]; unusedWorkers: { unref(): void }[] } };
    } | null;
    const pool = backend?.wasm?.PThread;
    if (pool !== undefined) for (const w of [...pool.runningWorkers, ...pool.unusedWorkers]) w.unref();
  };
}
