// Browser lane: the model package runs in a page on webgl — a GPT-2-shaped model built from its key table's
// shapes (no files), solved by the paper's scheme, equals the plain layer stack; refined schemes converge.
import { expect, it } from 'vitest';
import { initEngine, tf } from '@tide/backend';
import { expectClose, expectNoLeaks } from '@tide/backend/testing';
import { forward, plainLayerStack } from './index.js';
import { pageModel } from './page-model.fixture.js';

it('a GPT-2-shaped model built in the page: the splitting scheme equals the plain stack on webgl', async () => {
  const info = await initEngine({ backend: 'webgl' });
  expect(info.backend).toBe('webgl');
  const model = pageModel();
  const ids = tf.tensor2d([[1, 5, 9, 33, 2, 7, 0, 11]], [1, 8], 'int32');
  await expectNoLeaks(() => {
    const split = forward(model, { inputIds: ids });
    const plain = plainLayerStack(model, { inputIds: ids });
    expectClose(split.output, plain, { atol: 1e-4, rtol: 1e-4 });
    const [k4, k8, k16] = [4, 8, 16].map(
      (k) => forward(model, { inputIds: ids }, { scheme: 'rk4', stepsPerLayer: k }).output,
    );
    const gap = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
    expect(gap(k8!, k16!)).toBeLessThan(gap(k4!, k8!));
    tf.dispose([split.output, plain, k4!, k8!, k16!]);
  });
  ids.dispose();
  model.dispose();
});
