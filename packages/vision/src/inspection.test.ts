// Looking inside: predicted classes are the argmax of the logits; the kernels of a query patch are densities on
// the patch grid (Σ w γ + class weight = 1); ViT only; no leaks.
import { expect, it } from 'vitest';
import { initEngine, tf } from '@tide/backend';
import { expectNoLeaks } from '@tide/backend/testing';
import { fixtureDir, visionFixtureIO } from '@tide/fixtures';
import { ImageInputError } from './errors.js';
import { visionForward } from './forward.js';
import { imageAttentionKernels, predictClasses } from './inspection.js';
import { loadVisionCheckpoint } from './node.js';

it('predicts the argmax class and draws kernels that integrate to 1 with the class point', async () => {
  await initEngine({ backend: 'cpu' });
  const model = loadVisionCheckpoint(fixtureDir('vit-torchvision'));
  const io = visionFixtureIO('vit-torchvision', 'io-resized'); // 24 × 24: a 6 × 6 grid
  const classes = predictClasses(model, io.pixelValues);
  const argmax = tf.tidy(() => tf.argMax(io.logits!, 1).dataSync());
  expect(Array.from(classes)).toEqual(Array.from(argmax));
  const k = imageAttentionKernels(model, io.pixelValues, [2, 3]);
  expect([k.rows, k.cols, k.kernels.length]).toEqual([6, 6, 2 * 2]);
  for (const kernel of k.kernels) {
    const mass = kernel.gamma.reduce((s, g) => s + g / 36, 0) + kernel.classWeight;
    expect(mass).toBeCloseTo(1, 5);
  }
  await expectNoLeaks(() => {
    predictClasses(model, io.pixelValues);
    imageAttentionKernels(model, io.pixelValues, [0, 0]);
    return [];
  });
  expect(() => imageAttentionKernels(model, io.pixelValues, [6, 0])).toThrow(ImageInputError);
  const cvt = loadVisionCheckpoint(fixtureDir('cvt-1stage'));
  expect(() => imageAttentionKernels(cvt, io.pixelValues, [0, 0])).toThrow(/a ViT/);
  cvt.dispose();
  void visionForward;
  io.dispose();
  model.dispose();
});
