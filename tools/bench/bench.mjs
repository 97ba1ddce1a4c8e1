#!/usr/bin/env node
// `npm run bench`: the GPT-2-small shape (d = 768, 12 heads, 12 layers, 256 tokens, batch 1, pre-LN, causal,
// exact scheme) — TIDE's forward against the same network written as plain tfjs ops on the same backend, and
// against PyTorch (Debian's python3-torch, 1 and 2 threads) when it is installed. Medians of 5 runs after a
// warm-up; ratios are TIDE / peer. Installs nothing; a missing peer is skipped with a line saying so. Run it
// through `npm run bench`, which builds the packages first.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
const { initEngine, tf } = await import('@tide/backend');
const { forward, modelTensors, plainLayerStack } = await import('@tide/transformer');

const [d, heads, layers, n, repeats] = [768, 12, 12, 256, 5];
const engine = await initEngine({ backend: process.env.TIDE_BENCH_BACKEND ?? 'auto' });
const here = dirname(fileURLToPath(import.meta.url));

function randomModel() {
  let seed = 1;
  const w = (shape, std) => tf.randomNormal(shape, 0, std, 'float32', seed++);
  const layer = () => ({
    attention: { wq: w([d, d], 0.02), wk: w([d, d], 0.02), wv: w([d, d], 0.02), wo: w([d, d], 0.02), bq: tf.zeros([d]), bk: tf.zeros([d]), bv: tf.zeros([d]), bo: tf.zeros([d]) },
    norm1: { gamma: tf.ones([d]), beta: tf.zeros([d]) },
    norm2: { gamma: tf.ones([d]), beta: tf.zeros([d]) },
    w1: w([d, 4 * d], 0.02), b1: tf.zeros([4 * d]), w2: w([4 * d, d], 0.02), b2: tf.zeros([d]),
  });
  const config = { family: 'encoder', dModel: d, heads, dFeedforward: 4 * d, layers, activation: 'gelu', normFirst: true, epsilon: 1e-5, causal: true, finalNorm: true };
  const model = { config, layers: Array.from({ length: layers }, layer), finalNorm: { gamma: tf.ones([d]), beta: tf.zeros([d]) }, source: 'bench' };
  return { ...model, dispose: () => tf.dispose(modelTensors(model)) };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function time(label, run) {
  (await run()).dispose(); // warm-up
  const times = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    const out = await run();
    await out.data();
    times.push((performance.now() - t0) / 1000);
    out.dispose();
  }
  const peak = (await tf.profile(async () => (await run()).dispose())).peakBytes;
  return { label, median_s: median(times), peak_mib: peak / 2 ** 20 };
}

const model = randomModel();
const x = tf.randomNormal([1, n, d], 0, 1, 'float32', 99);
const rows = [];
rows.push(await time(`TIDE exact scheme (${engine.backend})`, () => forward(model, { input: x }).output));
rows.push(await time(`plain tfjs ops (${engine.backend})`, () => plainLayerStack(model, { input: x })));
for (const threads of [1, 2]) {
  const r = spawnSync('/usr/bin/python3', [join(here, 'torch_peer.py'), d, heads, layers, n, threads, repeats].map(String), { encoding: 'utf8' });
  if (r.status !== 0) {
    console.log(`peer skipped: PyTorch (${threads} thread${threads > 1 ? 's' : ''}) — /usr/bin/python3 cannot run torch (apt-get install python3-torch libopenblas0-pthread)`);
    continue;
  }
  const p = JSON.parse(r.stdout.trim().split('\n').pop());
  rows.push({ label: p.peer, median_s: p.median_s, peak_mib: NaN });
}
const tide = rows[0].median_s;
console.log(`\nGPT-2-small shape: d = ${d}, ${heads} heads, ${layers} layers, ${n} tokens, batch 1, pre-LN, causal; median of ${repeats} after warm-up`);
console.log(`${'implementation'.padEnd(36)}${'median'.padStart(10)}${'peak MiB'.padStart(10)}${'TIDE / this'.padStart(13)}`);
for (const r of rows) {
  console.log(`${r.label.padEnd(36)}${`${r.median_s.toFixed(3)} s`.padStart(10)}${(Number.isNaN(r.peak_mib) ? '—' : r.peak_mib.toFixed(0)).padStart(10)}${(tide / r.median_s).toFixed(2).padStart(13)}`);
}
