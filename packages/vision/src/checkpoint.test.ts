// Image checkpoints: the state dict written from a model reads back to the same tensors (torchvision layout),
// strict reads refuse unused tensors, and only torchvision ViTs are written.
import { expect, it } from 'vitest';
import { flattenTree, tf } from '@tide/backend';
import { CheckpointError, readSafetensors, writeSafetensors } from '@tide/formats';
import { fixtureDir } from '@tide/fixtures';
import { visionConfigJson, visionModel, visionModelFromTensors, visionStateDict } from './checkpoint.js';
import { loadVisionCheckpoint } from './node.js';

it('a torchvision ViT round-trips through its state dict and config', () => {
  const model = loadVisionCheckpoint(fixtureDir('vit-torchvision'));
  const bytes = writeSafetensors(visionStateDict(model));
  const again = visionModelFromTensors(model.config, readSafetensors(bytes, 'again').tensors, 'again');
  const a = flattenTree(model.parameters);
  for (const [path, t] of flattenTree(again.parameters)) {
    const gap = tf.tidy(() => tf.max(tf.abs(tf.sub(t, a.get(path)!))).dataSync()[0]);
    expect(gap, path).toBe(0);
  }
  expect(visionConfigJson(model, { tide: { note: 1 } })).toMatchObject({
    format: 'torchvision-vit',
    image_size: 16,
    tide: { note: 1 },
  });
  again.dispose();
  model.dispose();
});

it('refuses unused tensors (unless allowed) and writing layouts it only reads', () => {
  const model = loadVisionCheckpoint(fixtureDir('vit-torchvision'));
  const dict = {
    ...visionStateDict(model),
    'extra.weight': { dtype: 'F32' as const, shape: [1], data: new Float32Array(1) },
  };
  const tensors = readSafetensors(writeSafetensors(dict), 'extra').tensors;
  const before = tf.memory().numTensors;
  expect(() => visionModelFromTensors(model.config, tensors)).toThrow(/unused tensor/);
  expect(tf.memory().numTensors).toBe(before);
  visionModelFromTensors(model.config, tensors, 'extra', { allowUnusedTensors: true }).dispose();
  model.dispose();
  const cvt = loadVisionCheckpoint(fixtureDir('cvt-1stage'));
  expect(() => visionConfigJson(cvt)).toThrow(CheckpointError);
  cvt.dispose();
});

it('visionModel refuses a tree that does not fit its config, naming the path', async () => {
  const model = loadVisionCheckpoint(fixtureDir('vit-torchvision'));
  const { positions: _positions, ...rest } = model.parameters;
  expect(() => visionModel(model.config, rest as never, 'hand-built')).toThrow(
    /parameter "positions": expected a tensor of shape \[1, 17, 16\]/,
  );
  const wrong = { ...model.parameters, classToken: tf.zeros([1, 16]) };
  expect(() => visionModel(model.config, wrong as never, 'hand-built')).toThrow(CheckpointError);
  const { head: _head, ...headless } = model.parameters;
  expect(visionModel(model.config, headless as never, 'headless').parameters.head).toBeUndefined();
  wrong.classToken.dispose();
  model.dispose();
});
