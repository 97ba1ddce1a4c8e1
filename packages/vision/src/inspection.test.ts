// Looking inside: predicted classes are the argmax of the logits; the kernel of a query patch is the row of the
// attention weights at the token whose grid point is that patch's centre (found from the grid's points, not from
// the raster formula), divided by the key weights, on a non-square grid; ViT only; no leaks.
import { expect, it } from 'vitest';
import { initEngine, tf } from '@tide/backend';
import { expectNoLeaks } from '@tide/backend/testing';
import { attentionWeights } from '@tide/attention';
import { field } from '@tide/domain';
import { fixtureDir, visionFixtureIO } from '@tide/fixtures';
import { AffineStep, LayerNormConstraint } from '@tide/normalization';
import { ImageInputError } from './errors.js';
import { visionForward } from './forward.js';
import { imageAttentionKernels, predictClasses } from './inspection.js';
import { loadVisionCheckpoint } from './node.js';

it('predicts the argmax class and draws each layer and head’s kernel of a query patch on a 4 × 6 grid', async () => {
  await initEngine({ backend: 'cpu' });
  const model = loadVisionCheckpoint(fixtureDir('vit-hf'));
  const io = visionFixtureIO('vit-hf', 'io-nonsquare'); // 16 × 24 pixels: a 4 × 6 patch grid
  const classes = predictClasses(model, io.pixelValues);
  const argmax = tf.tidy(() => tf.argMax(io.logits!, 1).dataSync());
  expect(Array.from(classes)).toEqual(Array.from(argmax));
  const [row, col] = [1, 4];
  const k = imageAttentionKernels(model, io.pixelValues, [row, col]);
  expect([k.rows, k.cols, k.kernels.length]).toEqual([4, 6, 2 * 4]);
  // The reference: the saved states, the token at the patch centre ((row + ½)/4, (col + ½)/6), α / w.
  const solved = visionForward(model, io.pixelValues, { saveLayers: true });
  const grid = solved.states[0]!.tokenGrid;
  const at = (l: number) => [grid.points[2 * l]!, grid.points[2 * l + 1]!];
  const q = Array.from({ length: grid.size }, (_, l) => l).find(
    (l) => Math.abs(at(l)[0]! - (row + 0.5) / 4) < 1e-9 && Math.abs(at(l)[1]! - (col + 0.5) / 6) < 1e-9,
  )!;
  model.parameters.layers!.forEach((layer, i) => {
    const alpha = tf.tidy(() => {
      const u = solved.states[i]!;
      const first = field(tf.slice(u.values, [0, 0, 0], [1, -1, -1]) as tf.Tensor3D, { tokenGrid: grid });
      const v = new AffineStep(layer.norm1.gamma, layer.norm1.beta).apply(
        new LayerNormConstraint({ epsilon: model.config.epsilon }).project(first, i),
        i,
      );
      return attentionWeights(v, layer.attention, { heads: 4 });
    });
    const a = alpha.arraySync() as number[][][][];
    alpha.dispose();
    for (let h = 0; h < 4; h++) {
      const kernel = k.kernels.find((x) => x.layer === i && x.head === h)!;
      expect(kernel.classWeight).toBeCloseTo(a[0]![h]![q]![0]!, 6);
      for (let l = 1; l < grid.size; l++) expect(kernel.gamma[l - 1]!).toBeCloseTo(a[0]![h]![q]![l]! * 24, 4);
    }
  });
  tf.dispose([solved.output, solved.logits!, ...solved.states.map((s) => s.values)]);
  await expectNoLeaks(() => {
    predictClasses(model, io.pixelValues);
    imageAttentionKernels(model, io.pixelValues, [0, 0]);
    return [];
  });
  expect(() => imageAttentionKernels(model, io.pixelValues, [4, 0])).toThrow(ImageInputError);
  const cvt = loadVisionCheckpoint(fixtureDir('cvt-1stage'));
  expect(() => imageAttentionKernels(cvt, io.pixelValues, [0, 0])).toThrow(/a ViT/);
  cvt.dispose();
  io.dispose();
  model.dispose();
});
