// Parity with real peers (tools/fixtures/generate_vision.py): torchvision's VisionTransformer itself (also at
// 24×24, its position embedding resampled), PyTorch re-implementations of HF ViT (also non-square) and HF CvT
// (one stage without a class token, three stages with one): `output` and `logits` to 1e-4 relative, every backend.
import { expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { describeEachBackend, expectNoLeaks } from '@tide/backend/testing';
import {
  VISION_FIXTURE_NAMES,
  fixtureDir,
  maxAbsDiff,
  parityTolerance,
  visionFixtureIO,
  visionIONames,
} from '@tide/fixtures';
import { visionForward } from './forward.js';
import { loadVisionCheckpoint } from './node.js';

describeEachBackend('image models equal their PyTorch peers', () => {
  for (const name of VISION_FIXTURE_NAMES) {
    it(`${name}: output and logits at every size the fixture has`, async () => {
      const model = loadVisionCheckpoint(fixtureDir(name));
      for (const ioName of visionIONames(name)) {
        const io = visionFixtureIO(name, ioName);
        const out = visionForward(model, io.pixelValues);
        expect(out.output.shape, `${name}/${ioName} output`).toEqual(io.output.shape);
        const dOut = maxAbsDiff(out.output, io.output);
        expect(dOut, `${name}/${ioName}: max|Δ output|`).toBeLessThanOrEqual(parityTolerance(io.output));
        expect(out.logits, `${name}/${ioName}: logits`).toBeDefined();
        expect(maxAbsDiff(out.logits!, io.logits!), `${name}/${ioName}: max|Δ logits|`).toBeLessThanOrEqual(
          parityTolerance(io.logits!),
        );
        tf.dispose([out.output, out.logits!]);
        io.dispose();
      }
      const io = visionFixtureIO(name);
      // A batch of one: the first image alone gives the first rows.
      const one = tf.slice(io.pixelValues, [0, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D;
      const single = visionForward(model, one);
      const firstOut = tf.slice(io.output, [0, 0, 0], [1, -1, -1]);
      const firstLogits = tf.slice(io.logits!, [0, 0], [1, -1]);
      expect(maxAbsDiff(single.output, firstOut), `${name}: batch of one`).toBeLessThanOrEqual(
        parityTolerance(io.output),
      );
      expect(maxAbsDiff(single.logits!, firstLogits)).toBeLessThanOrEqual(parityTolerance(io.logits!));
      tf.dispose([one, single.output, single.logits!, firstOut, firstLogits]);
      await expectNoLeaks(() => {
        const r = visionForward(model, io.pixelValues, { scheme: 'rk4', stepsPerLayer: 2 });
        return [r.output, ...(r.logits ? [r.logits] : [])];
      });
      io.dispose();
      model.dispose();
    });
  }
});
