// What the Node benchmark (bench.mjs) and the browser benchmark page (browser/main.js) share: the benchmark
// encoder and the measurement itself, so both lanes time exactly the same network the same way.
import { tf } from '@tide/backend';

/**
 * A pre-LN, causal GPT-2-style encoder with random weights (std 0.02, zero biases, unit norms): d_ff = 4·d,
 * GELU, final norm. `w(shape, std)` draws the weights (the caller seeds and owns them).
 */
export function benchEncoder({ d, heads, layers }, w) {
  const layer = () => ({
    attention: { wq: w([d, d], 0.02), wk: w([d, d], 0.02), wv: w([d, d], 0.02), wo: w([d, d], 0.02), bq: tf.zeros([d]), bk: tf.zeros([d]), bv: tf.zeros([d]), bo: tf.zeros([d]) },
    norm1: { gamma: tf.ones([d]), beta: tf.zeros([d]) },
    norm2: { gamma: tf.ones([d]), beta: tf.zeros([d]) },
    w1: w([d, 4 * d], 0.02), b1: tf.zeros([4 * d]), w2: w([4 * d, d], 0.02), b2: tf.zeros([d]),
  });
  const config = { family: 'encoder', dModel: d, heads, dFeedforward: 4 * d, layers, activation: 'gelu', normFirst: true, epsilon: 1e-5, causal: true, finalNorm: true };
  return { config, layers: Array.from({ length: layers }, layer), finalNorm: { gamma: tf.ones([d]), beta: tf.zeros([d]) }, source: 'bench' };
}

/**
 * One warm-up run of `run` (profiled: peak tensor memory net of what was alive before), then `repeats` timed
 * runs; `await out.data()` waits for the backend (the GPU on webgl). Returns seconds and MiB.
 */
export async function measureRun(run, repeats) {
  const before = tf.memory().numBytes;
  const profile = await tf.profile(async () => {
    const out = run();
    await out.data();
    out.dispose();
  });
  const times = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    const out = run();
    await out.data();
    times.push((performance.now() - t0) / 1000);
    out.dispose();
  }
  times.sort((a, b) => a - b);
  return { median_s: times[Math.floor(times.length / 2)], min_s: times[0], max_s: times[times.length - 1], peak_mib: Math.max(0, profile.peakBytes - before) / 2 ** 20 };
}
