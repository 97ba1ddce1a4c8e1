#!/usr/bin/env node
// `npm run bench`: TIDE against its peers, measured in the same run and reported as ratios (TIDE / peer).
//
// Workloads (pre-LN, causal encoders with random weights, batch 1, the exact scheme = one Lie step per layer):
//   gpt2-small       d = 768, 12 heads, 12 layers, 256 tokens
//   long-1024/4096   d = 256, 8 heads, 4 layers, 1 024 and 4 096 tokens
//   attention-16384  integral attention alone, one head, d = 64, 16 384 tokens (non-causal: the full integral)
//   scaling          attention alone (one head, d = 64) at N = 2 048 … 16 384: time ∝ N^p, p fitted
//   steps            long-1024 with k = 1, 2, 4 Lie steps per layer (Δt = 1/k)
// Peers: the same network as plain tfjs ops on the same backend (N×N kernels), and PyTorch from Debian's
// python3-torch (1 and 2 threads) when /usr/bin/python3 can import torch. Nothing is installed; a missing
// peer is skipped with a line saying so. Each measurement runs in its own process (fair peak memory; a peer
// that runs out of memory is reported, not fatal): one warm-up run (profiled for peak tensor memory, net of
// the weights), then the median of `--repeats` (default 5) timed runs.
//
// usage: npm run bench [-- --workloads gpt2-small,long,attention,scaling,steps] [--repeats 5]
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { initEngine, tf } from '@tide/backend';
import { forward, plainLayerStack } from '@tide/transformer';
import { BLOCKED_THRESHOLD, integralAttention, attentionPath } from '@tide/attention';
import { field } from '@tide/domain';
import { benchEncoder, measureRun } from './workload.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const self = fileURLToPath(import.meta.url);
const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};

/** Workload shapes. */
const SHAPES = {
  'gpt2-small': { kind: 'encoder', d: 768, heads: 12, layers: 12, n: 256 },
  'long-1024': { kind: 'encoder', d: 256, heads: 8, layers: 4, n: 1024 },
  'long-4096': { kind: 'encoder', d: 256, heads: 8, layers: 4, n: 4096 },
  'attention-16384': { kind: 'attention', d: 64, heads: 1, layers: 1, n: 16384 },
};

// ---------------------------------------------------------------------------------------------------------
// Child: one measurement of one implementation on one shape; prints one JSON line.
async function child(spec) {
  const engine = await initEngine({ backend: process.env.TIDE_BENCH_BACKEND ?? 'auto' });
  tf.env().set('PROD', true);
  const { d, heads, n } = spec.shape;
  let seed = 1;
  const w = (shape, std) => tf.randomNormal(shape, 0, std, 'float32', seed++);
  let run;
  let owned;
  let path;
  let disposeModel = () => undefined;
  if (spec.shape.kind === 'attention') {
    const params = { wq: w([d, d], 0.1), wk: w([d, d], 0.1), wv: w([d, d], 0.1), wo: w([d, d], 0.1) };
    const u = field(w([1, n, d], 1));
    const impl = spec.impl === 'tide' ? 'auto' : 'plain';
    path = attentionPath({ implementation: impl }, n);
    run = () => integralAttention(u, params, { heads, implementation: impl }).values;
    owned = [...Object.values(params), u.values];
  } else {
    const model = benchEncoder(spec.shape, w);
    const x = w([1, n, d], 1);
    const steps = spec.steps ?? 1;
    const disc = { scheme: 'lie', stepsPerLayer: steps };
    path = spec.impl === 'tide' ? attentionPath({}, n) : 'plain';
    run =
      spec.impl === 'tide'
        ? () => forward(model, { input: x }, disc).output
        : () => plainLayerStack(model, { input: x });
    owned = [x];
    disposeModel = () => model.dispose();
  }
  const timing = await measureRun(run, spec.repeats);
  tf.dispose(owned);
  disposeModel();
  const rss = process.resourceUsage().maxRSS / 1024; // KiB → MiB: the process's peak resident memory
  return { ...timing, peak_rss_mib: rss, backend: engine.backend, skipped: engine.skipped, path };
}

if (args[0] === '--child') {
  try {
    process.stdout.write(`${JSON.stringify(await child(JSON.parse(args[1])))}\n`);
  } catch (e) {
    process.stdout.write(
      `${JSON.stringify({
        error: String(e?.message ?? e)
          .split('\n')[0]
          .slice(0, 160),
      })}\n`,
    );
  }
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------------------
// Parent: runs the children and prints the tables.
const repeats = Number(flag('repeats', '5'));
const workloads = new Set(flag('workloads', 'gpt2-small,long,attention,scaling,steps').split(','));
const known = ['gpt2-small', 'long', 'attention', 'scaling', 'steps'];
for (const w of workloads) {
  if (!known.includes(w)) {
    console.error(`bench: --workloads: expected some of ${known.join(', ')}, received "${w}"`);
    process.exit(2);
  }
}
if (!(repeats >= 1 && Number.isInteger(repeats))) {
  console.error(`bench: --repeats: expected an integer ≥ 1, received "${flag('repeats')}"`);
  process.exit(2);
}

function measure(spec) {
  const r = spawnSync(process.execPath, [self, '--child', JSON.stringify({ ...spec, repeats })], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line);
  } catch {
    const why = r.signal
      ? `killed by ${r.signal}`
      : `exit ${r.status}: ${(r.stderr.trim().split('\n').pop() ?? '').slice(0, 160)}`;
    return { error: why };
  }
}

let torchMissing = false;
function torch(shape, threads) {
  if (torchMissing) return undefined;
  const mode = shape.kind === 'attention' ? 'attention' : 'encoder';
  const r = spawnSync(
    '/usr/bin/python3',
    [join(here, 'torch_peer.py'), shape.d, shape.heads, shape.layers, shape.n, threads, repeats, mode].map(String),
    { encoding: 'utf8' },
  );
  if (r.status !== 0 && /No module named 'torch'|No such file|ENOENT/.test(`${r.stderr}${r.error ?? ''}`)) {
    torchMissing = true;
    console.log(
      'peer skipped: PyTorch — /usr/bin/python3 cannot import torch (apt-get install python3-torch libopenblas0-pthread)',
    );
    return undefined;
  }
  try {
    return JSON.parse(r.stdout.trim().split('\n').pop());
  } catch {
    return {
      peer: `pytorch (${threads} thread${threads > 1 ? 's' : ''})`,
      error: (r.stderr.trim().split('\n').pop() ?? `exit ${r.status}`).slice(0, 160),
    };
  }
}

const fmt = (s) => (s === undefined ? '—' : `${s.toFixed(3)} s`);
function table(title, rows) {
  console.log(`\n${title}`);
  console.log(
    `${'implementation'.padEnd(44)}${'median'.padStart(11)}${'peak MiB'.padStart(10)}${'RSS MiB'.padStart(10)}${'TIDE / this'.padStart(13)}`,
  );
  const tide = rows[0]?.median_s;
  for (const r of rows) {
    if (r.error) {
      console.log(`${r.label.padEnd(44)}  failed: ${r.error}`);
      continue;
    }
    const peak = r.peak_mib === undefined ? '—' : r.peak_mib.toFixed(0);
    const rss = r.peak_rss_mib === undefined ? '—' : r.peak_rss_mib.toFixed(0);
    console.log(
      `${r.label.padEnd(44)}${fmt(r.median_s).padStart(11)}${peak.padStart(10)}${rss.padStart(10)}${(tide / r.median_s).toFixed(2).padStart(13)}`,
    );
  }
}

function compare(name) {
  const shape = SHAPES[name];
  const tide = measure({ shape, impl: 'tide' });
  const backend = tide.backend ?? '?';
  const rows = [{ label: `TIDE (${backend}, ${tide.path ?? '?'} attention)`, ...tide }];
  const plain = measure({ shape, impl: 'plain' });
  // tfjs-wasm reports an exhausted heap (4 GiB) as one of these; the plain path keeps N×N tensors alive.
  if (plain.error && backend === 'wasm' && /memory access out of bounds|reading 'map'|out of memory/i.test(plain.error))
    plain.error += ' (the wasm heap, 4 GiB, cannot hold the N×N tensors)';
  rows.push({ label: `plain tfjs ops (${backend}, N×N kernel)`, ...plain });
  for (const threads of [1, 2]) {
    const p = torch(shape, threads);
    if (p) rows.push({ label: p.peer, ...p });
  }
  const what =
    shape.kind === 'attention'
      ? `attention alone: ${shape.heads} head, d = ${shape.d}, ${shape.n} tokens, non-causal`
      : `d = ${shape.d}, ${shape.heads} heads, ${shape.layers} layers, ${shape.n} tokens, pre-LN, causal, exact scheme`;
  table(`${name}: ${what}; median of ${repeats} after a warm-up`, rows);
  return rows;
}

const first = measure({ shape: { kind: 'attention', d: 8, heads: 1, layers: 1, n: 8 }, impl: 'tide' });
console.log(
  `TIDE bench — ${new Date().toISOString()} — Node ${process.versions.node}, ${availableParallelism()} cores (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB`,
);
console.log(
  `engine: ${first.backend ?? first.error}${first.skipped?.length ? ` (passed over: ${first.skipped.map((s) => `${s.backend}: ${s.reason}`).join('; ')})` : ''}; TIDE's attention: blocked beyond ${BLOCKED_THRESHOLD.wasm} tokens on wasm (${BLOCKED_THRESHOLD.cpu} on cpu), plain below; fused on webgl`,
);
console.log(
  "peak MiB: tfjs tensor memory at the peak of the warm-up run, net of the weights; RSS MiB: the process's peak resident memory (Node + wasm heap, or Python + PyTorch)",
);

if (workloads.has('gpt2-small')) compare('gpt2-small');
let long1024;
if (workloads.has('long')) {
  long1024 = compare('long-1024');
  const long4096 = compare('long-4096');
  // Growth of the median with ×4 tokens; a peer that failed or was skipped at either size reads "—".
  const g = (i) => {
    const ratio = long4096[i]?.median_s / long1024[i]?.median_s;
    return Number.isFinite(ratio) ? `×${ratio.toFixed(1)}` : '— (not measured at both sizes)';
  };
  console.log(`growth 1 024 → 4 096 tokens (×4): TIDE ${g(0)}, plain tfjs ${g(1)}, PyTorch 1 thread ${g(2)}`);
}
let attention16384;
if (workloads.has('attention')) attention16384 = compare('attention-16384')[0];
if (workloads.has('scaling')) {
  const ns = [2048, 4096, 8192, 16384];
  const rows = ns.map((n) =>
    n === 16384 && attention16384 && !attention16384.error
      ? attention16384
      : measure({ shape: { ...SHAPES['attention-16384'], n }, impl: 'tide' }),
  );
  console.log(`\nscaling: TIDE attention alone (one head, d = 64, non-causal) against N; median of ${repeats}`);
  console.log(`${'N'.padStart(8)}${'median'.padStart(11)}${'peak MiB'.padStart(10)}${'time / N²'.padStart(14)}`);
  rows.forEach((r, i) =>
    console.log(
      `${String(ns[i]).padStart(8)}${fmt(r.median_s).padStart(11)}${(r.peak_mib?.toFixed(0) ?? '—').padStart(10)}${`${((r.median_s / ns[i] ** 2) * 1e9).toFixed(2)} ns`.padStart(14)}`,
    ),
  );
  const xs = ns.map(Math.log);
  const ys = rows.map((r) => Math.log(r.median_s));
  const mx = xs.reduce((a, b) => a + b) / xs.length;
  const my = ys.reduce((a, b) => a + b) / ys.length;
  const p = xs.reduce((a, x, i) => a + (x - mx) * (ys[i] - my), 0) / xs.reduce((a, x) => a + (x - mx) ** 2, 0);
  const mp = Math.log(rows.at(-1).peak_mib / rows[0].peak_mib) / Math.log(ns.at(-1) / ns[0]);
  console.log(`fitted: time ∝ N^${p.toFixed(2)}, peak memory ∝ N^${mp.toFixed(2)}`);
}
if (workloads.has('steps')) {
  const ks = [1, 2, 4];
  const rows = ks.map((k) =>
    k === 1 && long1024?.[0] && !long1024[0].error
      ? long1024[0]
      : measure({ shape: SHAPES['long-1024'], impl: 'tide', steps: k }),
  );
  console.log(`\nsteps per layer: TIDE on long-1024 with k Lie steps per layer (Δt = 1/k); median of ${repeats}`);
  console.log(`${'k'.padStart(4)}${'median'.padStart(11)}${'time / k'.padStart(12)}`);
  rows.forEach((r, i) =>
    console.log(`${String(ks[i]).padStart(4)}${fmt(r.median_s).padStart(11)}${fmt(r.median_s / ks[i]).padStart(12)}`),
  );
}
