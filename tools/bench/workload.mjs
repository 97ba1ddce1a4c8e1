// What the Node benchmark (bench.mjs) and the browser benchmark page (browser/main.js) share: the benchmark
// encoder and the measurement itself, so both lanes time exactly the same network the same way.
import { tf, unflattenTree } from '@tide/backend';
import { keyTableShapes, torchEncoderKeyTable } from '@tide/formats';
import { transformerModel } from '@tide/transformer';

/**
 * A pre-LN, causal GPT-2-style encoder with random weights (std 0.02, zero biases, unit norms): d_ff = 4·d,
 * GELU, final norm. Its parameters are shaped by the PyTorch encoder key table (the same layout the loaders
 * use); `w(shape, std)` draws the weights (the caller seeds and owns them; `model.dispose()` frees them).
 */
export function benchEncoder({ d, heads, layers }, w) {
  const shapes = keyTableShapes(torchEncoderKeyTable({ layers, dModel: d, dFeedforward: 4 * d, finalNorm: true }));
  const leaves = new Map(
    [...shapes].map(([path, shape]) => {
      const leaf = path.slice(path.lastIndexOf('.') + 1);
      return [path, shape.length === 2 ? w(shape, 0.02) : leaf === 'gamma' ? tf.ones(shape) : tf.zeros(shape)];
    }),
  );
  const config = {
    layout: 'torch-encoder',
    dModel: d,
    heads,
    dFeedforward: 4 * d,
    numLayers: layers,
    activation: 'gelu',
    normFirst: true,
    epsilon: 1e-5,
    causal: true,
    finalNorm: true,
  };
  return transformerModel(config, unflattenTree(leaves), 'bench');
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
  return {
    median_s: times[Math.floor(times.length / 2)],
    min_s: times[0],
    max_s: times[times.length - 1],
    peak_mib: Math.max(0, profile.peakBytes - before) / 2 ** 20,
  };
}
