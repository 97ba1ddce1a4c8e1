// Browser lane: incremental causal solves on webgl — a GPT-2-shaped model built in the page (no files): the
// prompt takes the fused attention path, the appended tokens attend to the cached keys; the logits equal the
// full forward's rows, and generation with the cache picks the same tokens as re-solving the window.
import { expect, it } from 'vitest';
import { initEngine, tf } from '@tide/backend';
import { expectClose, expectNoLeaks } from '@tide/backend/testing';
import { KeyValueCache, forward, generate } from './index.js';
import { pageModel } from './page-model.fixture.js';

it('a GPT-2-shaped model in the page: incremental logits equal the full forward; generate with and without cache agree', async () => {
  const info = await initEngine({ backend: 'webgl' });
  expect(info.backend).toBe('webgl');
  const model = pageModel();
  const sequence = [1, 5, 9, 33, 2, 7, 0, 11, 4, 19];
  await expectNoLeaks(() => {
    for (const options of [{ scheme: 'exact' as const }, { scheme: 'rk4' as const, stepsPerLayer: 2 }]) {
      const all = tf.tensor2d([sequence], [1, sequence.length], 'int32');
      const full = forward(model, { inputIds: all }, options).output; // [1, 10, 40]
      const cache = new KeyValueCache();
      const rows: tf.Tensor3D[] = [];
      for (const [from, to] of [
        [0, 6],
        [6, 7],
        [7, 8],
        [8, 10],
      ] as const) {
        const chunk = tf.tensor2d([sequence.slice(from, to)], [1, to - from], 'int32');
        rows.push(forward(model, { inputIds: chunk }, { ...options, cache }).output);
        chunk.dispose();
      }
      const joined = tf.concat(rows, 1);
      expectClose(joined, full, { atol: 1e-4, rtol: 1e-4 }, `incremental ${options.scheme}`);
      tf.dispose([all, full, joined, ...rows]);
      cache.dispose();
      const prompt = sequence.slice(0, 4);
      expect(generate(model, prompt, { ...options, maxNewTokens: 10 })).toEqual(
        generate(model, prompt, { ...options, maxNewTokens: 10, cache: false }),
      );
    }
  });
  model.dispose();
});
