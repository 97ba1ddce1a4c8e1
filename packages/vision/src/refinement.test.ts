// Depth as time on an image model: refining Δt converges to the ODE's solution with each scheme's order
// (Lie 1, Strang 2, RK4 4), measured on torchvision's ViT (the fixture) and on a CvT — the paper's claim that the
// network is one discretisation of an equation that has others.
import { expect, it } from 'vitest';
import { initEngine, tf } from '@tide/backend';
import { convergenceOrder } from '@tide/backend/testing';
import { fixtureDir, maxAbsDiff, visionFixtureIO } from '@tide/fixtures';
import { VisionDiscretisationError } from './errors.js';
import { visionForward } from './forward.js';
import { loadVisionCheckpoint } from './node.js';
import type { VisionSchemeName } from './discretisation.js';

for (const name of ['vit-torchvision', 'cvt-1stage']) {
  it(`${name}: errors against Δt fall with the orders of Lie, Strang and RK4`, async () => {
    await initEngine({ backend: 'cpu' });
    const model = loadVisionCheckpoint(fixtureDir(name));
    const io = visionFixtureIO(name);
    const reference = visionForward(model, io.pixelValues, { scheme: 'rk4', stepsPerLayer: 64 });
    const expected: [VisionSchemeName, number][] = [
      ['lie', 1],
      ['strang', 2],
      ['rk4', 4],
    ];
    for (const [scheme, order] of expected) {
      const ks = scheme === 'rk4' ? [2, 4, 8] : [4, 8, 16];
      const errors = ks.map((k) => {
        const r = visionForward(model, io.pixelValues, { scheme, stepsPerLayer: k });
        const e = maxAbsDiff(r.output, reference.output);
        tf.dispose([r.output, r.logits!]);
        return e;
      });
      const measured = convergenceOrder(
        ks.map((k) => 1 / k),
        errors,
      );
      expect(Math.abs(measured - order), `${scheme}: order ${measured} (errors ${errors.join(', ')})`).toBeLessThan(
        0.35,
      );
    }
    tf.dispose([reference.output, reference.logits!]);
    io.dispose();
    model.dispose();
  });
}

it('refuses a discretisation it cannot run', async () => {
  await initEngine({ backend: 'cpu' });
  const model = loadVisionCheckpoint(fixtureDir('vit-torchvision'));
  const io = visionFixtureIO('vit-torchvision');
  for (const options of [{ scheme: 'exact', stepsPerLayer: 2 }, { scheme: 'nope' }, { stepsPerLayer: 0 }, null])
    expect(() => visionForward(model, io.pixelValues, options as never)).toThrow(VisionDiscretisationError);
  io.dispose();
  model.dispose();
});
