import { describe, expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { describeEachBackend, expectClose, expectNoLeaks, expectTensorCount } from '@tide/backend/testing';
import { DomainError, ShapeError, field, gaussLegendreRule, interval, type Field } from '@tide/domain';
import { affineStep } from './affine-step.js';
import { distanceToConstraint } from './distance.js';
import { layerNormConstraint } from './layer-norm-constraint.js';
import fixture from './fixtures/layernorm.json' with { type: 'json' };

/** A deterministic normal-ish generator. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  const uni = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  return () => Math.sqrt(-2 * Math.log(uni())) * Math.cos(2 * Math.PI * uni());
}

const featureGridGL = gaussLegendreRule(interval(0, 2), 7); // non-uniform feature weights
function randomField(b: number, n: number, seed = 1, grid = featureGridGL): Field {
  const next = seeded(seed);
  return field(
    tf.tensor3d(
      Array.from({ length: b * n * grid.size }, () => 2 * next() + 0.7),
      [b, n, grid.size],
    ),
    { featureGrid: grid },
  );
}

/** Weighted L² norm over the feature grid. */
function norm(v: number[], w: Float64Array): number {
  return Math.sqrt(v.reduce((s, x, j) => s + w[j]! * x * x, 0));
}

describeEachBackend('LayerNorm as the projection onto S₁', () => {
  it('affine ∘ P^ε equals PyTorch nn.LayerNorm on the committed fixtures (constant rows included)', () => {
    for (const c of fixture.cases) {
      const u = field(tf.tensor3d(c.x));
      const p = layerNormConstraint({ epsilon: c.eps }).project(u, 0);
      const scale = Math.max(1, ...c.y_no_affine.flat(2).map(Math.abs));
      expectClose(p.values, c.y_no_affine, { atol: 2e-5 * scale, rtol: 1e-5 }, `${c.name} (no affine)`);
      const gamma = tf.tensor1d(c.weight);
      const beta = tf.tensor1d(c.bias);
      const y = affineStep(gamma, beta).apply(p, 0);
      expectClose(y.values, c.y, { atol: 2e-5 * scale, rtol: 1e-5 }, c.name);
      tf.dispose([u.values, p.values, y.values, gamma, beta]);
    }
  });

  it('P(v) is the nearest point: no point sampled on S₁ is closer (non-uniform feature grid)', async () => {
    const s1 = 0.3;
    const s2 = 1.7;
    const u = randomField(1, 4, 2);
    const proj = layerNormConstraint({ mean: s1, std: s2 }).project(u, 0);
    const v = (await u.values.array())[0]!;
    const pv = (await proj.values.array())[0]!;
    const w = featureGridGL.weights;
    const total = w.reduce((a, b) => a + b, 0);
    const next = seeded(3);
    for (let k = 0; k < 4; k++) {
      const best = norm(
        v[k]!.map((x, j) => x - pv[k]![j]!),
        w,
      );
      for (let trial = 0; trial < 500; trial++) {
        // A random point of S₁: weighted mean s1, weighted variance s2².
        const z = v[k]!.map((x) => (trial % 2 === 0 ? x + 0.3 * next() : next()));
        const m = z.reduce((a, x, j) => a + w[j]! * x, 0) / total;
        const sd = Math.sqrt(z.reduce((a, x, j) => a + w[j]! * (x - m) ** 2, 0) / total);
        const s = z.map((x) => s1 + (s2 * (x - m)) / sd);
        expect(
          norm(
            v[k]!.map((x, j) => x - s[j]!),
            w,
          ),
        ).toBeGreaterThanOrEqual(best - 1e-4);
      }
    }
    tf.dispose([u.values, proj.values]);
  });

  it('is idempotent and lands on S₁; invariant to positive scaling and shifts', async () => {
    const ln = layerNormConstraint({ mean: -0.4, std: 2 });
    const u = randomField(2, 3, 4);
    const p = ln.project(u, 0);
    const pp = ln.project(p, 0);
    expectClose(pp.values, p.values, { atol: 1e-5, rtol: 1e-5 }, 'P∘P = P');
    const dist = distanceToConstraint(p, ln);
    expect(tf.max(dist).dataSync()[0]).toBeLessThan(1e-4);
    for (const [c, s] of [
      [3.7, 0],
      [0.01, 0],
      [1, 5.5],
      [250, -3],
    ] as const) {
      const moved = u.withValues(tf.add(tf.mul(u.values, c), s));
      const pm = ln.project(moved, 0);
      expectClose(pm.values, p.values, { atol: 2e-4, rtol: 1e-4 }, `P(${c}v + ${s})`);
      tf.dispose([moved.values, pm.values]);
    }
    tf.dispose([u.values, p.values, pp.values, dist]);
  });

  it('LN_ε(½z) = LN_{4ε}(z) (the relaxation identity of the recovery theorem)', () => {
    const u = randomField(2, 5, 5);
    for (const eps of [1e-5, 0.3]) {
      const half = u.withValues(tf.mul(u.values, 0.5));
      const a = layerNormConstraint({ epsilon: eps }).project(half, 0);
      const b = layerNormConstraint({ epsilon: 4 * eps }).project(u, 0);
      expectClose(a.values, b.values, { atol: 2e-6, rtol: 2e-6 }, `ε = ${eps}`);
      const c = layerNormConstraint({ epsilon: eps }).project(u, 0);
      if (eps > 0.1) expect(tf.max(tf.abs(tf.sub(c.values, b.values))).dataSync()[0]).toBeGreaterThan(1e-3);
      tf.dispose([half.values, a.values, b.values, c.values]);
    }
    u.dispose();
  });

  it('β = 0: ε > 0 gives σ₁; ε = 0 gives the documented point σ₁ + σ₂·e of S₁', async () => {
    const u = field(
      tf.tensor3d([
        [
          [2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5],
          [0, 0, 0, 0, 0, 0, 0],
        ],
      ]),
      { featureGrid: featureGridGL },
    );
    const withEps = layerNormConstraint({ mean: 0.25, std: 3, epsilon: 1e-5 }).project(u, 0);
    expectClose(withEps.values, tf.fill([1, 2, 7], 0.25), { atol: 1e-6, rtol: 0 });
    const ln = layerNormConstraint({ mean: 0.25, std: 3 });
    const exact = ln.project(u, 0);
    const rows = (await exact.values.array())[0]!;
    expect(rows[0]).toEqual(rows[1]); // deterministic, the same point for every constant row
    const dist = ln.distance(exact, 0);
    expect(tf.max(dist).dataSync()[0]).toBeLessThan(1e-4); // on S₁
    // The direction is the standardised ramp: increasing along y.
    for (let j = 1; j < 7; j++) expect(rows[0]![j]!).toBeGreaterThan(rows[0]![j - 1]!);
    tf.dispose([u.values, withEps.values, exact.values, dist]);
  });

  it('follows time-dependent targets σ₁(t), σ₂(t)', async () => {
    const ln = layerNormConstraint({ mean: (t) => t, std: (t) => 1 + t });
    const u = randomField(1, 2, 6);
    const p = ln.project(u, 0.5);
    const d0 = ln.distance(p, 0.5);
    const d1 = ln.distance(p, 0);
    expect(tf.max(d0).dataSync()[0]).toBeLessThan(1e-4);
    expect(tf.min(d1).dataSync()[0]).toBeGreaterThan(0.5);
    tf.dispose([u.values, p.values, d0, d1]);
  });

  it('distance: the closed form equals ‖v − P(v)‖ in L²(Ω_y)', async () => {
    const ln = layerNormConstraint({ mean: 1, std: 0.5 });
    const u = randomField(1, 3, 7);
    const p = ln.project(u, 0);
    const d = (await ln.distance(u, 0).array())[0]!;
    const v = (await u.values.array())[0]!;
    const pv = (await p.values.array())[0]!;
    v.forEach((row, k) =>
      expect(d[k]).toBeCloseTo(
        norm(
          row.map((x, j) => x - pv[k]![j]!),
          featureGridGL.weights,
        ),
        4,
      ),
    );
    tf.dispose([u.values, p.values]);
  });

  it('gradients of P^ε and of the exact P (with its β = 0 branch) match central differences', () => {
    const u = randomField(1, 2, 8);
    const c = tf.tensor3d([
      [
        [1, -2, 0.5, 3, -1, 0.2, 0.7],
        [0.3, 0.1, -0.4, 2, 1, -1, 0.5],
      ],
    ]);
    for (const eps of [1e-5, 0]) {
      const ln = layerNormConstraint({ mean: 0.1, std: 1.3, epsilon: eps });
      const loss = (x: tf.Tensor) => tf.sum(tf.mul(ln.project(u.withValues(x as tf.Tensor3D), 0).values, c));
      const g = tf.grad(loss)(u.values);
      const dir = tf.randomNormal([1, 2, 7], 0, 1, 'float32', 5);
      const h = 1e-2;
      const fd = tf.tidy(() =>
        tf.div(tf.sub(loss(tf.add(u.values, tf.mul(dir, h))), loss(tf.sub(u.values, tf.mul(dir, h)))), 2 * h),
      );
      const analytic = tf.sum(tf.mul(g, dir));
      expect(Math.abs(analytic.dataSync()[0]! - fd.dataSync()[0]!)).toBeLessThan(
        2e-2 * Math.max(1, Math.abs(fd.dataSync()[0]!)),
      );
      tf.dispose([g, dir, fd, analytic]);
    }
    tf.dispose([u.values, c]);
  });

  it('leaves exactly its output (project, distance, gradient)', async () => {
    const u = randomField(2, 3, 9);
    for (const eps of [0, 1e-5]) {
      const ln = layerNormConstraint({ epsilon: eps });
      const p = await expectTensorCount(() => ln.project(u, 0), 1);
      p.dispose();
      await expectNoLeaks(() => ln.distance(u, 0));
      await expectNoLeaks(() =>
        tf.grad((x: tf.Tensor) => tf.sum(ln.project(u.withValues(x as tf.Tensor3D), 0).values))(u.values),
      );
    }
    u.dispose();
  });
});

describe('LayerNorm constraint: bad input', () => {
  it('names the bad target, epsilon or field', () => {
    expect(() => layerNormConstraint({ epsilon: -1 })).toThrow(/epsilon: expected a finite number ≥ 0, received -1/);
    expect(() => layerNormConstraint({ std: 0 })).toThrow(/std σ₂: expected a finite number > 0, received 0/);
    expect(() => layerNormConstraint({ mean: NaN })).toThrow(DomainError);
    const ln = layerNormConstraint({ std: (t) => (t > 1 ? -1 : 1) });
    const u = field(tf.ones([1, 2, 3]));
    expect(() => ln.project(u, 2)).toThrow(/received -1 at t = 2/);
    expect(() => ln.project(tf.ones([1, 2, 3]) as never, 0)).toThrow(ShapeError);
    const one = field(tf.ones([1, 2, 1]));
    expect(() => layerNormConstraint().project(one, 0)).toThrow(/at least 2 points for the exact projection/);
    tf.dispose([u.values, one.values]);
  });
});
