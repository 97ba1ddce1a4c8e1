// Image-model configs: the three layouts parse (fixtures and HF's CvT defaults), and every bad field is a
// CheckpointError naming the key.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { CheckpointError } from '@tide/formats';
import { fixtureDir } from '@tide/fixtures';
import { isVisionConfig, parseVisionConfig } from './config.js';

const raw = (name: string) =>
  JSON.parse(readFileSync(join(fixtureDir(name), 'config.json'), 'utf8')) as Record<string, unknown>;

it('reads torchvision ViT, HF ViT and HF CvT configs', () => {
  const tv = parseVisionConfig(raw('vit-torchvision'));
  expect(tv).toMatchObject({ layout: 'torchvision-vit', imageSize: [16, 16], classes: 5, epsilon: 1e-6 });
  expect(tv.vit).toMatchObject({ dModel: 16, heads: 2, dFeedforward: 32, numLayers: 2, patch: 4 });
  const hf = parseVisionConfig(raw('vit-hf'));
  expect(hf).toMatchObject({ layout: 'hf-vit', classes: 3, epsilon: 1e-12 });
  const cvt = parseVisionConfig(raw('cvt-3stage'));
  expect(cvt.stages!.map((s) => [s.dModel, s.depth, s.classToken, s.inChannels])).toEqual([
    [8, 1, false, 3],
    [16, 1, false, 8],
    [24, 2, true, 16],
  ]);
  // HF CvtConfig's defaults (CvT-13) fill the lists a config leaves out.
  const defaults = parseVisionConfig({ model_type: 'cvt', num_labels: 10 });
  expect(defaults.stages!.map((s) => s.depth)).toEqual([1, 2, 10]);
  expect(defaults.stages![2]!.classToken).toBe(true);
  expect([raw('vit-hf'), raw('cvt-1stage')].every(isVisionConfig)).toBe(true);
  expect(isVisionConfig({ model_type: 'gpt2' })).toBe(false);
});

it('refuses bad fields with a CheckpointError naming the key', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ...raw('vit-torchvision'), image_size: 18 }, /"image_size": expected a multiple of patch_size/],
    [{ ...raw('vit-torchvision'), num_heads: 3 }, /"hidden_dim": expected a multiple of the number of heads/],
    [{ ...raw('vit-hf'), hidden_act: 'relu' }, /"hidden_act"/],
    [{ ...raw('vit-hf'), patch_size: 0 }, /"patch_size": expected a positive integer/],
    [{ ...raw('cvt-3stage'), depth: [1, 1] }, /"depth": expected a list of 3/],
    [{ ...raw('cvt-3stage'), stride_q: [1, 2, 1] }, /"stride_q"/],
    [{ ...raw('cvt-3stage'), tide: 'rk4' }, /"tide"/],
    [{ ...raw('cvt-3stage'), embed_dim: [] }, /"embed_dim": expected at least one stage/],
  ];
  for (const [config, message] of cases) {
    expect(() => parseVisionConfig(config, 'config.json')).toThrow(CheckpointError);
    expect(() => parseVisionConfig(config, 'config.json')).toThrow(message);
  }
  expect(() => parseVisionConfig({ model_type: 'gpt2' })).toThrow(/an image model config/);
  expect(() => parseVisionConfig(null)).toThrow(CheckpointError);
});
