import { describe, expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { describeEachBackend, expectClose, expectNoLeaks, expectTensorCount } from '@tide/backend/testing';
import { DomainError, field } from '@tide/domain';
import { gelu, geluStep, reluProjection } from './activations.js';
import fixture from './fixtures/activations.json' with { type: 'json' };

describeEachBackend('activation sub-steps', () => {
  it('ReLU is the projection onto S₂: idempotent, nearest point, equal to PyTorch relu', async () => {
    const relu = reluProjection();
    expect(relu.kind).toBe('projection');
    const u = field(tf.tensor3d([[fixture.x]]));
    const p = await expectTensorCount(() => relu.project(u, 0), 1);
    expectClose(p.values, [[fixture.relu]], { atol: 0, rtol: 0 });
    const pp = relu.project(p, 0);
    expectClose(pp.values, p.values, { atol: 0, rtol: 0 });
    // Nearest point: no point of S₂ (sampled) is closer to v than max(v, 0).
    const v = fixture.x;
    const best = Math.hypot(...v.map((x) => Math.min(x, 0)));
    for (let trial = 0; trial < 300; trial++) {
      const s = v.map((x, j) => Math.max(0, x + Math.sin(trial * 13 + j) * (trial % 3)));
      expect(Math.hypot(...v.map((x, j) => x - s[j]!))).toBeGreaterThanOrEqual(best - 1e-9);
    }
    const d = relu.distance(u, 0);
    expect(d.dataSync()[0]).toBeCloseTo(best, 3);
    const d0 = relu.distance(p, 0);
    expect(d0.dataSync()[0]).toBe(0);
    tf.dispose([u.values, p.values, pp.values, d, d0]);
  });

  it('GELU (erf and tanh forms) equals PyTorch nn.GELU and is not a projection (not idempotent)', async () => {
    const u = field(tf.tensor3d([[fixture.x]]));
    for (const [form, expected] of [
      ['erf', fixture.gelu_erf],
      ['tanh', fixture.gelu_tanh],
    ] as const) {
      const step = geluStep(form);
      expect(step.kind).toBe('pointwise');
      const y = await expectTensorCount(() => step.apply(u, 0), 1);
      expectClose(y.values, [[expected]], { atol: 2e-6, rtol: 2e-6 }, `gelu ${form}`);
      const yy = step.apply(y, 0);
      expect(tf.max(tf.abs(tf.sub(yy.values, y.values))).dataSync()[0]).toBeGreaterThan(1e-2);
      tf.dispose([y.values, yy.values]);
    }
    u.dispose();
  });

  it('GELU gradients match central differences; no leaks', async () => {
    const x = tf.linspace(-4, 4, 17);
    for (const form of ['erf', 'tanh'] as const) {
      const g = tf.grad((t: tf.Tensor) => tf.sum(gelu(t, form)))(x);
      const h = 1e-2;
      const fd = tf.tidy(() => tf.div(tf.sub(gelu(tf.add(x, h), form), gelu(tf.sub(x, h), form)), 2 * h));
      expectClose(g, fd, { atol: 2e-3, rtol: 1e-2 });
      tf.dispose([g, fd]);
      await expectNoLeaks(() => tf.grad((t: tf.Tensor) => tf.sum(gelu(t, form)))(x));
    }
    x.dispose();
  });
});

describe('activation sub-steps: bad input', () => {
  it('refuses an unknown GELU form and a non-field', () => {
    expect(() => geluStep('fast' as never)).toThrow(DomainError);
    expect(() => geluStep('fast' as never)).toThrow(/expected 'erf' or 'tanh', received "fast"/);
    expect(() => reluProjection().project([1] as never, 0)).toThrow(/expected a Field/);
  });
});
