// Browser lane: the model package runs in a page on webgl — a GPT-2-shaped model built from its key table's
// shapes (no files), solved by the paper's scheme, equals the plain layer stack; refined schemes converge.
import { expect, it } from 'vitest';
import { initEngine, tf, unflattenTree } from '@tide/backend';
import { expectClose, expectNoLeaks } from '@tide/backend/testing';
import { gpt2KeyTable, keyTableShapes } from '@tide/formats';
import { forward, plainLayerStack, transformerModel, type ModelConfig, type ModelParameters } from './index.js';

it('a GPT-2-shaped model built in the page: the splitting scheme equals the plain stack on webgl', async () => {
  const info = await initEngine({ backend: 'webgl' });
  expect(info.backend).toBe('webgl');
  const config: ModelConfig = {
    layout: 'gpt2',
    dModel: 16,
    heads: 2,
    dFeedforward: 64,
    numLayers: 2,
    activation: 'gelu_new',
    normFirst: true,
    epsilon: 1e-5,
    causal: true,
    finalNorm: true,
    vocabSize: 40,
    positions: 12,
  };
  const shapes = keyTableShapes(
    gpt2KeyTable({ layers: 2, dModel: 16, dFeedforward: 64, vocabSize: 40, positions: 12 }),
  );
  shapes.delete('embeddings.head');
  let seed = 1;
  const leaves = new Map(
    [...shapes].map(
      ([path, shape]) =>
        [path, path.endsWith('gamma') ? tf.ones(shape) : tf.randomNormal(shape, 0, 0.2, 'float32', seed++)] as [
          string,
          tf.Tensor,
        ],
    ),
  );
  const model = transformerModel(config, unflattenTree<ModelParameters>(leaves), 'page');
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
