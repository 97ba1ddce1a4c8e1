import { describe, expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { describeEachBackend, expectClose, expectTensorCount } from '@tide/backend/testing';
import { field } from '@tide/domain';
import { rmsSphereConstraint } from './rms-sphere-constraint.js';

describeEachBackend('RMS sphere', () => {
  it('projects to the nearest point of the sphere, idempotently and scale-invariantly', async () => {
    const rms = rmsSphereConstraint({ radius: 2 });
    const u = field(tf.randomNormal([2, 3, 6], 0.5, 1, 'float32', 3));
    const p = await expectTensorCount(() => rms.project(u, 0), 1);
    const d = rms.distance(p, 0);
    expect(tf.max(d).dataSync()[0]).toBeLessThan(1e-4);
    expectClose(rms.project(p, 0).values, p.values, { atol: 1e-5, rtol: 1e-5 });
    const scaled = u.withValues(tf.mul(u.values, 7));
    expectClose(rms.project(scaled, 0).values, p.values, { atol: 1e-5, rtol: 1e-5 });
    // Nearest: v − P(v) is parallel to v, so ‖v − P(v)‖ = |‖v‖ − r√d| ≤ ‖v − s‖ for any s on the sphere.
    const v = (await u.values.array()).flat();
    const pv = (await p.values.array()).flat();
    for (let k = 0; k < v.length; k++) {
      const best = Math.hypot(...v[k]!.map((x, j) => x - pv[k]![j]!));
      for (let trial = 0; trial < 100; trial++) {
        const z = v[k]!.map((_, j) => Math.sin(trial * 7 + j * 3 + k));
        const zr = Math.sqrt(z.reduce((a, x) => a + x * x, 0) / 6);
        expect(Math.hypot(...v[k]!.map((x, j) => x - (2 * z[j]!) / zr))).toBeGreaterThanOrEqual(best - 1e-4);
      }
    }
    tf.dispose([u.values, p.values, d, scaled.values]);
  });

  it('maps 0 to 0 with ε > 0 and to σ₂·e on the sphere with ε = 0; ε matches v/√(mean v² + ε)', async () => {
    const zero = field(tf.zeros([1, 1, 4]));
    expectClose(rmsSphereConstraint({ epsilon: 1e-6 }).project(zero, 0).values, [[[0, 0, 0, 0]]]);
    const exact = rmsSphereConstraint({ radius: 3 }).project(zero, 0);
    const d = rmsSphereConstraint({ radius: 3 }).distance(exact, 0);
    expect(d.dataSync()[0]).toBeLessThan(1e-4);
    const v = field(tf.tensor3d([[[1, 2, 3, 4]]]));
    const ms = (1 + 4 + 9 + 16) / 4;
    expectClose(rmsSphereConstraint({ epsilon: 0.5 }).project(v, 0).values, [
      [[1, 2, 3, 4].map((x) => x / Math.sqrt(ms + 0.5))],
    ]);
    tf.dispose([zero.values, exact.values, d, v.values]);
  });
});

describe('RMS sphere: bad input', () => {
  it('refuses a non-positive radius and a negative ε', () => {
    expect(() => rmsSphereConstraint({ radius: -2 })).toThrow(/radius σ₂: expected a finite number > 0, received -2/);
    expect(() => rmsSphereConstraint({ epsilon: NaN })).toThrow(/epsilon/);
    expect(() => rmsSphereConstraint().distance({} as never, 0)).toThrow(/expected a Field/);
  });
});
