// Browser lane: image models on webgl equal their PyTorch peers — the committed fixtures (torchvision's ViT, the
// HF ViT and HF CvT re-implementations; tools/fixtures/generate_vision.py) fetched from the dev server, read with
// the browser-safe readers, solved on webgl: output and logits to 1e-4 relative, resized and non-square included.
import { expect, it } from 'vitest';
import { initEngine, tf } from '@tide/backend';
import { expectNoLeaks } from '@tide/backend/testing';
import { readSafetensors } from '@tide/formats';
import { parseVisionConfig, visionForward, visionModelFromTensors } from './index.js';

const cases: [string, string[]][] = [
  ['vit-torchvision', ['io', 'io-resized']],
  ['vit-hf', ['io', 'io-nonsquare']],
  ['cvt-1stage', ['io', 'io-nonsquare']],
  ['cvt-3stage', ['io']],
];

async function bytes(path: string): Promise<Uint8Array> {
  const response = await fetch(`/tools/fixtures/data/${path}`);
  expect(response.ok, path).toBe(true);
  return new Uint8Array(await response.arrayBuffer());
}

function tensor(file: ReturnType<typeof readSafetensors>, name: string): tf.Tensor {
  const t = file.tensors.get(name)!;
  return tf.tensor(t.data as Float32Array, [...t.shape], 'float32');
}

const gap = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
const tolerance = (ref: tf.Tensor) =>
  1e-4 *
  Math.max(
    1,
    tf.tidy(() => tf.max(tf.abs(ref)).dataSync()[0]!),
  );

it('torchvision ViT, HF ViT and HF CvT on webgl equal PyTorch (output and logits, every size)', async () => {
  const info = await initEngine({ backend: 'webgl' });
  expect(info.backend).toBe('webgl');
  for (const [name, ios] of cases) {
    const config = parseVisionConfig(JSON.parse(new TextDecoder().decode(await bytes(`${name}/config.json`))), name);
    const model = visionModelFromTensors(
      config,
      readSafetensors(await bytes(`${name}/model.safetensors`), name).tensors,
      name,
    );
    for (const ioName of ios) {
      const io = readSafetensors(await bytes(`${name}/${ioName}.safetensors`), ioName);
      const [pixels, output, logits] = ['pixel_values', 'output', 'logits'].map((k) => tensor(io, k));
      await expectNoLeaks(() => {
        const r = visionForward(model, pixels as tf.Tensor4D);
        expect(gap(r.output, output!), `${name}/${ioName}: output`).toBeLessThanOrEqual(tolerance(output!));
        expect(gap(r.logits!, logits!), `${name}/${ioName}: logits`).toBeLessThanOrEqual(tolerance(logits!));
        tf.dispose([r.output, r.logits!]);
      });
      tf.dispose([pixels!, output!, logits!]);
    }
    model.dispose();
  }
});
