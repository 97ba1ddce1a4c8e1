// XNNPACK threads for the wasm backend in Node (./node/wasm-threads.ts): asked for at wasm's first start in this
// process (vitest runs each file in its own fork), the engine reports 2 threads, matrix products agree with the cpu
// backend, a later call cannot change the count, and bad values are BackendErrors. Speed is the benchmarks'
// business (tools/bench/wasm-threads-probe2.cjs), not a test's.
import { expect, it } from 'vitest';
import { BackendError } from './errors.js';
import { engineInfo, initEngine } from './engine.js';
import * as tf from '@tensorflow/tfjs-core';

it('starts wasm with two XNNPACK threads when asked at its first start; products agree with cpu', async () => {
  expect(tf.engine().registry['wasm'], 'wasm must not have started in this fork yet').toBeUndefined();
  const info = await initEngine({ backend: 'wasm', threads: 2, gradients: false });
  expect(info.backend).toBe('wasm');
  expect(info.threads).toBe(2);
  // TIDE's SIMD kernels run on the threaded build's shared heap too (the module's shared-memory variant).
  expect(info.simdKernels).toBe(true);
  const a = tf.randomNormal([256, 192], 0, 1, 'float32', 1);
  const b = tf.randomNormal([192, 320], 0, 1, 'float32', 2);
  const q = tf.randomNormal([3, 40, 16], 0, 1, 'float32', 3);
  // XNNPACK's threaded product, TIDE's batched and aᵀ·b products, and its column sums.
  const products = () => [tf.matMul(a, b), tf.matMul(q, q, false, true), tf.matMul(a, a, true, false), tf.sum(b, 0)];
  const values = async () => {
    const outs = products();
    const data = await Promise.all(outs.map((t) => t.data()));
    tf.dispose(outs);
    return data;
  };
  const threaded = await values();
  await initEngine({ backend: 'cpu', gradients: false });
  const reference = await values();
  reference.forEach((r, k) => {
    let worst = 0;
    for (let i = 0; i < r.length; i++) worst = Math.max(worst, Math.abs(threaded[k]![i]! - r[i]!));
    expect(worst).toBeLessThan(1e-3); // float32 sums of ≤ 256 products of N(0, 1) values; aᵀ·a's diagonal ≈ 256: ≈ 3e-5
  });
  // The pool is sized at wasm's first start: asking again later keeps it, and says so.
  const again = await initEngine({ backend: 'wasm', threads: 4, gradients: false });
  expect(again.threads).toBe(2);
  expect(engineInfo()?.threads).toBe(2);
  tf.dispose([a, b, q]);
});

it('refuses thread counts outside 1 … 8', async () => {
  for (const threads of [0, 9, 1.5, Number.NaN])
    await expect(initEngine({ backend: 'wasm', threads })).rejects.toThrow(BackendError);
  await expect(initEngine({ backend: 'wasm', threads: 0 })).rejects.toThrow(/an integer from 1 to 8/);
});
