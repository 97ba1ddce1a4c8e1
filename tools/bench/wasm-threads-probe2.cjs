#!/usr/bin/env node
// XNNPACK on 2 threads in Node: tfjs-backend-wasm 4.22's threaded build, made to actually use its pool.
//
// Run:  node tools/bench/wasm-threads-probe2.cjs            (≈ 3 s)
//       node tools/bench/wasm-threads-probe2.cjs --boost    (same, children at autogroup nice -15: needs root)
//
// Why a first probe (Blob URLs shimmed, nothing else) got 1 thread: the threaded binary sizes its pool in C++ (tfjs
// src/cc/backend.cc) as `num_cores = emscripten_num_logical_cores() / 2` — a static initialiser run when the
// module starts — and `init_with_threads_count(n)` caps n at num_cores. In Node the glue answers
// emscripten_num_logical_cores with `require('os').cpus().length`: 2 here, so num_cores = 1 and
// pthreadpool_create(1) whatever setThreadsCount asked. (The pool's 8 workers are loaded before the module
// resolves — loadWasmModuleToAllWorkers is a run dependency — so worker loading is not the cause.)
// Fix shown here: make os.cpus() report 2·n entries while tf.setBackend('wasm') runs, with setThreadsCount(n).
// The Blob URLs are shimmed as Node needs (scripts written once, deleted after start-up); the
// pthreadpool's running worker is unref()'d so the process can exit on its own.
//
// What it prints, per child process: the plain SIMD build, the threaded build as tfjs sizes it (1 thread),
// and the threaded build with 2 threads — XNNPACK's thread count, the 1024×1024 float32 matMul median of 5
// after one warm-up, the process CPU time per matMul, CPU ticks per OS thread over 20 more matMuls (the
// worker's share shows the split), and whether the product is bitwise identical to the plain build's.
// Note: with Linux autogroup scheduling a shell's session gets one core's share while another session's jobs
// are busy, so two threads only show a wall-clock gain on an idle machine or with --boost.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

/** Loads tfjs-backend-wasm; threads = 0 → plain SIMD build, else the threaded build asked for `threads`. */
async function startEngine(threads, fakeCores) {
  const wt = require('node:worker_threads');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tide-wasm-threads-'));
  const NativeBlob = globalThis.Blob;
  const nativeCreateObjectURL = URL.createObjectURL;
  const realCpus = os.cpus;
  // The threaded loader hands Node's worker_threads Blob URLs, which it cannot load: write them to files.
  globalThis.Blob = class RecordingBlob extends NativeBlob {
    constructor(parts, options) {
      super(parts, options);
      this.text_ = parts.map(String).join('');
    }
  };
  // The threaded factory's source refers to the bundle's module aliases: give the worker the same names.
  const prelude =
    "var require$$0=require('fs');var require$$1=require('path');var require$$4=require('os');var commonjsGlobal=globalThis;";
  const files = new Map();
  const toFile = (blob) => {
    let file = files.get(blob.text_);
    if (file === undefined) {
      file = path.join(dir, `script${files.size}.js`);
      fs.writeFileSync(file, prelude + blob.text_);
      files.set(blob.text_, file);
    }
    return file;
  };
  URL.createObjectURL = toFile;
  wt.Worker = class FileWorker extends wt.Worker {
    postMessage(msg, transfer) {
      if (msg && msg.cmd === 'load' && msg.urlOrBlob && typeof msg.urlOrBlob !== 'string')
        msg = { ...msg, urlOrBlob: toFile(msg.urlOrBlob) };
      return super.postMessage(msg, transfer);
    }
  };
  // THE FIX: the wasm module reads the core count once, at start-up, and halves it.
  if (fakeCores > 0) os.cpus = () => Array.from({ length: fakeCores }, () => realCpus()[0]);
  const tf = require('@tensorflow/tfjs-core');
  const wasm = require('@tensorflow/tfjs-backend-wasm');
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', threads > 0);
  if (threads > 0) wasm.setThreadsCount(threads);
  try {
    await tf.setBackend('wasm');
  } finally {
    os.cpus = realCpus;
    URL.createObjectURL = nativeCreateObjectURL;
    globalThis.Blob = NativeBlob;
    fs.rmSync(dir, { recursive: true, force: true }); // every pool worker has loaded by now
  }
  const pthread = tf.backend().wasm.PThread; // Emscripten's pool (threaded build only)
  if (pthread) for (const w of [...pthread.runningWorkers, ...pthread.unusedWorkers]) w.unref();
  return { tf, wasm };
}

/** CPU ticks (1/100 s) per OS thread of this process. */
function threadTicks() {
  const ticks = {};
  for (const tid of fs.readdirSync('/proc/self/task')) {
    const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks[tid] = Number(f[11]) + Number(f[12]); // utime + stime
  }
  return ticks;
}

async function child(threads, fakeCores, outFile, boost) {
  if (boost) fs.writeFileSync('/proc/self/autogroup', '-15'); // own session (spawned detached): own autogroup
  const t0 = performance.now();
  const { tf, wasm } = await startEngine(threads, fakeCores);
  const initMs = performance.now() - t0;
  const a = tf.randomNormal([1024, 1024], 0, 1, 'float32', 1);
  const b = tf.randomNormal([1024, 1024], 0, 1, 'float32', 2);
  const times = [];
  const cpuMs = [];
  let out;
  for (let r = 0; r < 6; r++) {
    const s = performance.now();
    const u = process.cpuUsage();
    const c = tf.matMul(a, b);
    out = await c.data();
    c.dispose();
    const du = process.cpuUsage(u);
    if (r > 0) {
      times.push(performance.now() - s);
      cpuMs.push((du.user + du.system) / 1000);
    }
  }
  const before = threadTicks();
  for (let r = 0; r < 20; r++) {
    const c = tf.matMul(a, b);
    await c.data();
    c.dispose();
  }
  const after = threadTicks();
  const busy = Object.keys(after)
    .map((t) => after[t] - (before[t] ?? 0))
    .filter((v) => v > 2);
  fs.writeFileSync(outFile, Buffer.from(out.buffer, out.byteOffset, out.byteLength));
  const sorted = [...times].sort((x, y) => x - y);
  return {
    threads: wasm.getThreadsCount(),
    initMs,
    medianMs: sorted[2],
    bestMs: sorted[0],
    cpuMsMedian: [...cpuMs].sort((x, y) => x - y)[2],
    busyThreadTicks: busy,
  };
}

if (process.argv[2] === '--child') {
  const [threads, fake, outFile, boost] = process.argv.slice(3);
  child(Number(threads), Number(fake), outFile, boost === '1').then(
    (r) => process.stdout.write(JSON.stringify(r)), // exits on its own: the pool workers are unref()'d
    (e) => {
      process.stdout.write(JSON.stringify({ error: String(e?.message ?? e) }));
      process.exit(0);
    },
  );
} else {
  const boost = process.argv.includes('--boost');
  const configs = [
    { label: 'plain SIMD build          ', threads: 0, fake: 0 },
    { label: 'threaded, as tfjs sizes it', threads: 2, fake: 0 },
    { label: 'threaded, os.cpus() → 4   ', threads: 2, fake: 4 },
  ];
  let ref;
  console.log(
    `wasm threads probe 2 on ${os.availableParallelism()} cores (Node ${process.versions.node})${boost ? ', boosted' : ''}:`,
  );
  for (const [i, c] of configs.entries()) {
    const outFile = path.join(os.tmpdir(), `tide-wasm-threads-out-${process.pid}-${i}.bin`);
    const p = spawnSync(process.execPath, [__filename, '--child', c.threads, c.fake, outFile, boost ? '1' : '0'], {
      encoding: 'utf8',
      timeout: 60_000,
      detached: boost,
    });
    let r;
    try {
      r = JSON.parse(p.stdout);
    } catch {
      r = { error: `exit ${p.status}${p.signal ? ` (${p.signal})` : ''}: ${p.stderr.trim().split('\n').pop()}` };
    }
    let same = '';
    if (fs.existsSync(outFile)) {
      const y = new Uint32Array(new Uint8Array(fs.readFileSync(outFile)).buffer);
      fs.rmSync(outFile);
      if (ref === undefined) ref = y;
      else same = y.length === ref.length && y.every((v, k) => v === ref[k]) ? ', bitwise identical' : ', DIFFERS';
    }
    console.log(
      r.error
        ? `  ${c.label}  failed: ${r.error}`
        : `  ${c.label}  XNNPACK threads ${r.threads}, init ${r.initMs.toFixed(0)} ms, 1024² matMul median ` +
            `${r.medianMs.toFixed(1)} ms (best ${r.bestMs.toFixed(1)}), CPU ${r.cpuMsMedian.toFixed(1)} ms, ` +
            `busy threads' ticks [${r.busyThreadTicks.join(', ')}]${same}`,
    );
  }
}
