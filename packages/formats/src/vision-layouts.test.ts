// Image layouts as key tables: the rows each layout names (keys, stored shapes, transposes, tree paths), the
// shared layer rows, HF's separate Q/K/V with and without biases, prefixes, and a write → read round trip.
import { expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { keyTableShapes, readWithKeyTable, writeWithKeyTable } from './key-table.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';
import { hfCvtKeyTable, hfVitKeyTable, torchvisionVitKeyTable } from './vision-layouts.js';

const vit = { layers: 2, dModel: 8, dFeedforward: 12, channels: 3, patch: 4, patches: 16, classes: 5 };

it('torchvision: fused in_proj split into Q, K, V; the patch lifting, class token and positions as stored', () => {
  const table = torchvisionVitKeyTable(vit);
  const row = (key: string) => table.entries.find((e) => e.key === key)!;
  expect(row('conv_proj.weight')).toMatchObject({ shape: [8, 3, 4, 4], paths: ['lift.weight'] });
  expect(row('encoder.pos_embedding')).toMatchObject({ shape: [1, 17, 8], paths: ['positions'] });
  expect(row('encoder.layers.encoder_layer_1.self_attention.in_proj_weight')).toMatchObject({
    shape: [24, 8],
    transpose: true,
    paths: ['layers.1.attention.wq', 'layers.1.attention.wk', 'layers.1.attention.wv'],
  });
  expect(row('heads.head.weight')).toMatchObject({ shape: [5, 8], transpose: true, optional: true });
  expect(keyTableShapes(table).get('layers.0.feedforward.w1')).toEqual([8, 12]);
});

it('HF ViT: separate Q/K/V (biases only with qkv_bias), the vit. prefix, the classifier never prefixed', () => {
  const withBias = hfVitKeyTable({ ...vit, qkvBias: true });
  const without = hfVitKeyTable({ ...vit, qkvBias: false });
  const q = 'encoder.layer.0.attention.attention.query';
  expect(withBias.entries.some((e) => e.key === `${q}.bias`)).toBe(true);
  expect(without.entries.some((e) => e.key === `${q}.bias`)).toBe(false);
  expect(without.entries.find((e) => e.key === `${q}.weight`)).toMatchObject({
    shape: [8, 8],
    paths: ['layers.0.attention.wq'],
  });
  expect(withBias.prefixes).toEqual(['vit.']);
  expect(withBias.entries.find((e) => e.key === 'classifier.weight')!.unprefixed).toBe(true);
});

it('HF CvT: per-stage lifts, class tokens, depthwise maps with BatchNorm statistics, the classifier', () => {
  const stage = { dFeedforward: 8, depth: 1, patch: 3, kernelQkv: 3, qkvBias: true };
  const table = hfCvtKeyTable({
    stages: [
      { ...stage, dModel: 4, inChannels: 3, classToken: false },
      { ...stage, dModel: 6, dFeedforward: 12, inChannels: 4, classToken: true },
    ],
    classes: 2,
  });
  const keys = new Map(table.entries.map((e) => [e.key, e]));
  expect(keys.get('cvt.encoder.stages.1.embedding.convolution_embeddings.projection.weight')).toMatchObject({
    shape: [6, 4, 3, 3],
    paths: ['stages.1.lift.weight'],
  });
  expect(keys.get('cvt.encoder.stages.1.cls_token')).toMatchObject({
    shape: [1, 1, 6],
    paths: ['stages.1.classToken'],
  });
  expect(keys.has('cvt.encoder.stages.0.cls_token')).toBe(false);
  const conv = 'cvt.encoder.stages.0.layers.0.attention.attention.convolution_projection_key.convolution_projection.';
  expect(keys.get(`${conv}convolution.weight`)).toMatchObject({
    shape: [4, 1, 3, 3],
    paths: ['stages.0.layers.0.convolutions.key.weight'],
  });
  expect(keys.get(`${conv}normalization.running_var`)!.paths).toEqual(['stages.0.layers.0.convolutions.key.variance']);
  expect(keys.get('layernorm.weight')!.shape).toEqual([6]);
  expect(table.ignored!.some((r) => r.test(`${conv}normalization.num_batches_tracked`))).toBe(true);
});

it('writes and reads back every layout', () => {
  for (const table of [torchvisionVitKeyTable(vit), hfVitKeyTable({ ...vit, qkvBias: false })]) {
    let seed = 1;
    const leaves = new Map(
      [...keyTableShapes(table)].map(([p, s]) => [p, tf.randomNormal(s, 0, 1, 'float32', seed++)]),
    );
    const file = readSafetensors(writeSafetensors(writeWithKeyTable(leaves, table)), table.layout);
    const read = readWithKeyTable(file.tensors, table);
    expect(read.unused).toEqual([]);
    for (const [path, t] of leaves) {
      expect(
        tf.tidy(() => tf.max(tf.abs(tf.sub(t, read.leaves.get(path)!))).dataSync()[0]),
        path,
      ).toBe(0);
    }
    tf.dispose([...leaves.values(), ...read.leaves.values()]);
  }
});
