// Training a ViT through the solver: the initialised model has the torchvision layout's shapes, the loss is the
// cross-entropy (checked against a direct computation), gradients reach every parameter, a few steps on a fixed
// batch lower the loss, bad options are typed errors, and nothing leaks.
import { expect, it } from 'vitest';
import { flattenTree, initEngine, tf } from '@tide/backend';
import { expectClose } from '@tide/backend/testing';
import { shapesBatch, visionForward } from '@tide/vision';
import { TrainingError } from './errors.js';
import { classificationLoss, initVisionTransformer, trainImageClassifier } from './image-classifier.js';

const arch = { imageSize: 16, patch: 4, dModel: 16, heads: 2, layers: 2, classes: 4 };

function batch(count = 8, size = 16) {
  const b = shapesBatch({ seed: 1, count, height: size, width: size });
  return { pixels: tf.tensor4d(b.pixels, b.shape), labels: tf.tensor1d(b.labels, 'int32') };
}

it('the loss is the mean cross-entropy of the logits, and its gradient reaches every parameter', async () => {
  await initEngine({ backend: 'cpu', gradients: true });
  const before = tf.memory().numTensors;
  const { model, variables } = initVisionTransformer(arch, 3);
  expect(flattenTree(model.parameters).get('positions')!.shape).toEqual([1, 17, 16]);
  const { pixels, labels } = batch();
  const loss = classificationLoss(model, pixels, labels);
  const { logits, output } = visionForward(model, pixels);
  const direct = tf.tidy(() => tf.losses.softmaxCrossEntropy(tf.oneHot(labels, 4), logits!));
  expectClose(loss, direct, { rtol: 1e-5 });
  const { grads, value } = tf.variableGrads(() => classificationLoss(model, pixels, labels), [...variables.values()]);
  for (const [path, v] of variables) {
    const g = grads[v.name]!;
    const norm = tf.tidy(() => tf.norm(g).dataSync()[0]!);
    expect(norm, `∂loss/∂${path}`).toBeGreaterThan(0);
  }
  tf.dispose([loss, direct, logits!, output, value, ...Object.values(grads), pixels, labels]);
  model.dispose();
  expect(tf.memory().numTensors).toBe(before);
});

it('training steps on one batch lower its loss; the trainer leaves only the model', async () => {
  await initEngine({ backend: 'wasm', gradients: true });
  const before = tf.memory().numTensors;
  const fixed = shapesBatch({ seed: 1, count: 8, height: 16, width: 16 });
  const { model, losses } = trainImageClassifier(
    () => ({ pixels: tf.tensor4d(fixed.pixels, fixed.shape), labels: tf.tensor1d(fixed.labels, 'int32') }),
    arch,
    { steps: 40, learningRate: 3e-3, seed: 1 },
  );
  expect(losses).toHaveLength(40);
  expect(losses[39]!).toBeLessThan(0.5 * losses[0]!);
  const survivors = tf.memory().numTensors - before;
  expect(survivors).toBe(flattenTree(model.parameters).size);
  model.dispose();
  expect(tf.memory().numTensors).toBe(before);
});

it('refuses bad architectures, options and labels with a TrainingError', async () => {
  await initEngine({ backend: 'cpu', gradients: true });
  expect(() => initVisionTransformer({ ...arch, imageSize: 18 })).toThrow(TrainingError);
  expect(() => initVisionTransformer({ ...arch, heads: 3 })).toThrow(TrainingError);
  expect(() => trainImageClassifier(() => batch(), arch, { steps: 0 })).toThrow(TrainingError);
  expect(() => trainImageClassifier('x' as never, arch, { steps: 1 })).toThrow(TrainingError);
  const { model } = initVisionTransformer(arch, 1);
  const { pixels, labels } = batch(4);
  const wrong = tf.tensor1d([0, 1, 2], 'int32');
  expect(() => classificationLoss(model, pixels, wrong)).toThrow(TrainingError);
  const outOfRange = tf.tensor1d([0, 1, 2, 4], 'int32');
  expect(() => classificationLoss(model, pixels, outOfRange)).toThrow(/classes 0 … 3/);
  outOfRange.dispose();
  tf.dispose([pixels, labels, wrong]);
  model.dispose();
});
