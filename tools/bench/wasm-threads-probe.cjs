#!/usr/bin/env node
// Can tfjs's threaded wasm build run in Node? (issue 6: "find out, and use it if it can").
//
// tfjs-backend-wasm 4.22 refuses threads in Node (WASM_HAS_MULTITHREAD_SUPPORT is false there), and its
// threaded loader makes Blob URLs for the worker and main scripts, which Node's worker_threads cannot load.
// This probe forces the flag and shims Blob URLs to temporary files, then reports what XNNPACK got and times a
// 1024² matMul against the single-threaded build in a child process. Usage: node tools/bench/wasm-threads-probe.cjs
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

function child(threaded) {
  const wt = require('node:worker_threads');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tide-wasm-threads-'));
  let count = 0;
  const NativeBlob = globalThis.Blob;
  globalThis.Blob = class RecordingBlob extends NativeBlob {
    constructor(parts, options) {
      super(parts, options);
      this.text_ = parts.map(String).join('');
    }
  };
  // The threaded factory's source refers to the bundle's module aliases: give the worker the same names.
  const prelude = "var require$$0=require('fs');var require$$1=require('path');var commonjsGlobal=globalThis;";
  const toFile = (blob) => {
    const file = path.join(dir, `script${count++}.js`);
    fs.writeFileSync(file, prelude + blob.text_);
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
  const tf = require('@tensorflow/tfjs-core');
  const wasm = require('@tensorflow/tfjs-backend-wasm');
  return (async () => {
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', threaded);
    wasm.setThreadsCount(os.availableParallelism());
    await tf.setBackend('wasm');
    const a = tf.randomNormal([1024, 1024], 0, 1, 'float32', 1);
    const b = tf.randomNormal([1024, 1024], 0, 1, 'float32', 2);
    const times = [];
    for (let r = 0; r < 6; r++) {
      const t0 = performance.now();
      const c = tf.matMul(a, b);
      await c.data();
      c.dispose();
      if (r > 0) times.push(performance.now() - t0);
    }
    times.sort((x, y) => x - y);
    const workers = fs.readdirSync(dir).length;
    fs.rmSync(dir, { recursive: true, force: true });
    return {
      threaded,
      scriptsLoaded: workers,
      xnnpackThreads: wasm.getThreadsCount(),
      medianMs: times[Math.floor(times.length / 2)],
    };
  })();
}

if (process.argv[2] === '--child') {
  child(process.argv[3] === 'threaded').then(
    (r) => {
      process.stdout.write(JSON.stringify(r));
      process.exit(0);
    },
    (e) => {
      process.stdout.write(JSON.stringify({ error: String(e?.message ?? e) }));
      process.exit(0);
    },
  );
} else {
  const runs = ['plain', 'threaded'].map((mode) => {
    const r = spawnSync(process.execPath, [__filename, '--child', mode], { encoding: 'utf8', timeout: 120_000 });
    try {
      return JSON.parse(r.stdout);
    } catch {
      return { threaded: mode === 'threaded', error: `exit ${r.status}: ${r.stderr.trim().split('\n').pop()}` };
    }
  });
  console.log(`wasm threads probe on ${os.availableParallelism()} cores (Node ${process.versions.node}):`);
  for (const r of runs)
    console.log(
      `  ${r.threaded ? 'threaded build  ' : 'single-threaded '} ${r.error ? `failed: ${r.error}` : `XNNPACK threads ${r.xnnpackThreads}, 1024² matMul median ${r.medianMs.toFixed(1)} ms${r.threaded ? ` (${r.scriptsLoaded} worker scripts loaded)` : ''}`}`,
    );
  const [plain, threaded] = runs;
  const usable = !threaded.error && threaded.xnnpackThreads > 1 && threaded.medianMs < 0.8 * plain.medianMs;
  console.log(
    `verdict: ${usable ? 'the threaded build runs and is faster' : 'the threaded build gives no usable speed-up in Node: TIDE keeps the single-threaded wasm build'}`,
  );
}
