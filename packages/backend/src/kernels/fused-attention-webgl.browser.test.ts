// The fused WebGL core equals the plain N×N core (forward and gradient) on uniform, causal, padded and
// non-uniform weights, in one tile and in ragged key tiles, leaks nothing, and holds one tile, not N×N.
import { expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { describeEachBackend, expectClose, expectNoLeaks, peakBytesOf } from '../testing/index.js';
import { blockedAttention } from './blocked-attention.js';
import { fusedAttentionWebgl } from './fused-attention-webgl.js';
import { PARITY_CASES, coreGradients, disposeCore, plainAttentionCore, randomCore } from './reference.fixture.js';

describeEachBackend('fusedAttentionWebgl', (backend) => {
  if (backend !== 'webgl') return;
  const n = 37;

  it.each(PARITY_CASES)('$name: forward and gradients equal the plain core (1e-4 relative)', (c) => {
    const core = randomCore(2, 2, n, 8, 6, c.weights(n), c.causal, 41);
    const dy = tf.randomNormal([2, 2, n, 6], 0, 1, 'float32', 7);
    const plain = plainAttentionCore(core);
    const gp = coreGradients(plainAttentionCore, core, dy);
    for (const tile of [undefined, 16, 5]) {
      const fused = fusedAttentionWebgl(core, tile);
      expectClose(fused, plain, { atol: 1e-5, rtol: 1e-4 }, `${c.name}, tile ${tile ?? 'default'}`);
      const gf = coreGradients((x) => fusedAttentionWebgl(x, tile), core, dy);
      gp.forEach((g, i) =>
        expectClose(
          gf[i]!,
          g,
          { atol: 1e-5, rtol: 1e-4 },
          `${c.name}, tile ${tile ?? 'default'}: gradient ${'qkv'[i]}`,
        ),
      );
      tf.dispose([fused, ...gf]);
    }
    tf.dispose([plain, dy, ...gp]);
    disposeCore(core);
  });

  it('equals the blocked core on a longer causal sequence with several tiles (d_k = 64, 3 heads)', () => {
    const m = 300;
    const core = randomCore(1, 3, m, 64, 16, [Array.from({ length: m }, (_, i) => (i < 290 ? 1 / 290 : 0))], true, 51);
    const fused = fusedAttentionWebgl(core, 128);
    const blocked = blockedAttention(core, 64);
    expectClose(fused, blocked, { atol: 1e-5, rtol: 1e-4 }, 'fused vs blocked');
    tf.dispose([fused, blocked]);
    disposeCore(core);
  });

  it('leaves only its output, with and without a gradient', async () => {
    const core = randomCore(1, 2, 20, 4, 4, [Array.from({ length: 20 }, () => 0.05)], true, 61);
    await expectNoLeaks(() => fusedAttentionWebgl(core, 8));
    await expectNoLeaks(() =>
      tf.grad((q: tf.Tensor) => tf.sum(fusedAttentionWebgl({ ...core, q: q as tf.Tensor4D }, 8)))(core.q),
    );
    disposeCore(core);
  });

  it('holds one key tile at a time: peak memory grows with the tile and stays far below the N×N kernel', async () => {
    const m = 1024;
    const core = randomCore(1, 1, m, 16, 16, [Array.from({ length: m }, () => 1 / m)], false, 71);
    const kernelBytes = m * m * 4;
    const tileBytes = (t: number) => m * t * 4; // one [N, T] score tile
    const small = await peakBytesOf(() => fusedAttentionWebgl(core, 32));
    const large = await peakBytesOf(() => fusedAttentionWebgl(core, 128));
    expect(small).toBeLessThan(kernelBytes / 4);
    // The peak grows with the tile (one to three [N, T] tiles: scores, probabilities and their sum alive at once).
    expect(large - small).toBeGreaterThanOrEqual((tileBytes(128) - tileBytes(32)) * 0.9);
    expect(large - small).toBeLessThanOrEqual(3 * (tileBytes(128) - tileBytes(32)));
    disposeCore(core);
  });

  it('refuses a bad tile', () => {
    const core = randomCore(1, 1, 5, 4, 4, [[1, 1, 1, 1, 1]], false);
    expect(() => fusedAttentionWebgl(core, 0)).toThrow(/tile: expected an integer ≥ 1/);
    disposeCore(core);
  });
});
