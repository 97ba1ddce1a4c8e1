import { describe, expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { describeEachBackend, expectClose, expectNoLeaks, expectTensorCount } from '@tide/backend/testing';
import { DomainError, ShapeError, field, gaussLegendreRule, interval } from '@tide/domain';
import { feedforwardRate, fromTorchFeedforward, type FeedforwardActivation } from './feedforward-rate.js';
import fixture from './fixtures/activations.json' with { type: 'json' };

type Matrix = number[][];

/** erf in float64 (Abramowitz & Stegun 7.1.26, |error| ≤ 1.5e-7): the reference's own GELU. */
function erf(x: number): number {
  const s = Math.sign(x);
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return s * (1 - poly * Math.exp(-a * a));
}

const SIGMA: Record<FeedforwardActivation, (x: number) => number> = {
  relu: (x) => Math.max(x, 0),
  'gelu-erf': (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
  'gelu-tanh': (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
};

/** A deterministic `[rows, cols]` matrix. */
function matrix(rows: number, cols: number, seed: number): Matrix {
  return Array.from({ length: rows }, (_, i) =>
    Array.from({ length: cols }, (_, j) => 0.6 * Math.sin(seed + 1.3 * i + 0.7 * j * (i + 2))),
  );
}

// The FFN's first layer is PyTorch's nn.Linear(5, 7) of the committed fixture (its output y computed by torch);
// the second is a hand-made Linear(7, 5) stored as PyTorch stores it, [out, in] = [5, 7].
const linear2Weight = matrix(5, 7, 1);
const linear2Bias = matrix(1, 5, 2)[0]!;

/** σ(y_torch) W₂ᵀ + b₂ in float64, row by row. */
function reference(activation: FeedforwardActivation): number[][][] {
  return fixture.linear.y.map((sample) =>
    sample.map((z) =>
      linear2Bias.map((b, j) => z.reduce((acc, zi, i) => acc + SIGMA[activation](zi) * linear2Weight[j]![i]!, b)),
    ),
  );
}

function torchTensors() {
  return {
    linear1Weight: tf.tensor2d(fixture.linear.weight), // [d_ff, d] = [7, 5]
    linear1Bias: tf.tensor1d(fixture.linear.bias), // [7]
    linear2Weight: tf.tensor2d(linear2Weight), // [d, d_ff] = [5, 7]
    linear2Bias: tf.tensor1d(linear2Bias), // [5]
  };
}

describeEachBackend('feedforwardRate', () => {
  it.each(['relu', 'gelu-erf', 'gelu-tanh'] as const)(
    '%s: fromTorchFeedforward + the rate equal PyTorch Linear(5, 7), then σ and Linear(7, 5) in float64',
    (activation) => {
      const torch = torchTensors();
      const params = fromTorchFeedforward(torch);
      expect(params.w1.shape).toEqual([5, 7]);
      expect(params.w2.shape).toEqual([7, 5]);
      const rate = feedforwardRate(params, activation);
      expect(rate.kind).toBe('vector-field');
      expect([rate.features, rate.hidden]).toEqual([5, 7]);
      const u = field(tf.tensor3d(fixture.linear.u));
      const out = rate.evaluate(u, 0);
      expectClose(out.values, reference(activation), { atol: 2e-5, rtol: 1e-5 }, activation);
      tf.dispose([u.values, out.values, ...Object.values(torch), ...(Object.values(params) as tf.Tensor[])]);
    },
  );

  it('with unit 1 × 1 kernels and no biases the rate is σ itself: PyTorch relu, GELU and GELU(tanh) on ±30', () => {
    const one = tf.tensor2d([[1]]);
    const u = field(tf.tensor3d(fixture.x, [1, fixture.x.length, 1]));
    for (const [activation, expected] of [
      ['relu', fixture.relu],
      ['gelu-erf', fixture.gelu_erf],
      ['gelu-tanh', fixture.gelu_tanh],
    ] as const) {
      const out = feedforwardRate({ w1: one, w2: one }, activation).evaluate(u, 0);
      expectClose(out.values, tf.tensor3d(expected, [1, expected.length, 1]), { atol: 1e-5, rtol: 1e-5 }, activation);
      out.dispose();
    }
    tf.dispose([one, u.values]);
  });

  it("keeps the field's grids (a Gauss–Legendre feature grid too), and lists its variables", () => {
    const grid = gaussLegendreRule(interval(0, 1), 3);
    const u = field(tf.randomNormal([2, 4, 3], 0, 1, 'float32', 1), { featureGrid: grid });
    const w1 = tf.variable(tf.randomNormal([3, 8], 0, 1, 'float32', 2)) as tf.Variable<tf.Rank.R2>;
    const w2 = tf.randomNormal([8, 3], 0, 1, 'float32', 3) as tf.Tensor2D;
    const rate = feedforwardRate({ w1, w2 }, 'gelu-tanh', 'ffn[0]');
    const out = rate.evaluate(u, 0);
    expect(out.featureGrid).toBe(grid);
    expect(out.tokenGrid).toBe(u.tokenGrid);
    expect(rate.label).toBe('ffn[0]');
    expect(rate.parameters()).toEqual([w1]);
    tf.dispose([u.values, w1, w2, out.values]);
  });

  it('the gradient with respect to W₁ matches central differences', () => {
    const torch = torchTensors();
    const params = fromTorchFeedforward(torch);
    const u = field(tf.tensor3d(fixture.linear.u));
    const c = tf.randomNormal([2, 3, 5], 0, 1, 'float32', 7);
    const loss = (w1: tf.Tensor) =>
      tf.sum(tf.mul(feedforwardRate({ ...params, w1: w1 as tf.Tensor2D }, 'gelu-erf').evaluate(u, 0).values, c));
    const g = tf.grad(loss)(params.w1);
    const dir = tf.randomNormal([5, 7], 0, 1, 'float32', 8);
    const h = 1e-2;
    const fd = tf
      .tidy(() =>
        tf.div(tf.sub(loss(tf.add(params.w1, tf.mul(dir, h))), loss(tf.sub(params.w1, tf.mul(dir, h)))), 2 * h),
      )
      .dataSync()[0]!;
    const analytic = tf.tidy(() => tf.sum(tf.mul(g, dir))).dataSync()[0]!;
    expect(Math.abs(analytic - fd)).toBeLessThan(1e-2 * Math.max(1, Math.abs(fd)));
    tf.dispose([g, dir, c, u.values, ...Object.values(torch), ...(Object.values(params) as tf.Tensor[])]);
  });

  it('leaves exactly its output: evaluate, the importer, and a gradient', async () => {
    const torch = torchTensors();
    const params = await expectTensorCount(() => fromTorchFeedforward(torch), 4);
    const noBias = await expectTensorCount(
      () => fromTorchFeedforward({ linear1Weight: torch.linear1Weight, linear2Weight: torch.linear2Weight }),
      2,
    );
    const u = field(tf.tensor3d(fixture.linear.u));
    for (const activation of ['relu', 'gelu-erf', 'gelu-tanh'] as const) {
      const out = await expectTensorCount(() => feedforwardRate(params, activation).evaluate(u, 0), 1);
      out.dispose();
    }
    await expectNoLeaks(() => feedforwardRate(noBias, 'relu').evaluate(u, 0).values);
    await expectNoLeaks(() =>
      tf.grads((x: tf.Tensor, w: tf.Tensor) =>
        tf.sum(feedforwardRate({ ...params, w2: w as tf.Tensor2D }, 'gelu-erf').evaluate(u.withValues(x), 0).values),
      )([u.values, params.w2]),
    );
    tf.dispose([
      u.values,
      ...Object.values(torch),
      ...(Object.values(params) as tf.Tensor[]),
      ...(Object.values(noBias) as tf.Tensor[]),
    ]);
  });
});

describe('feedforwardRate: bad input', () => {
  const w1 = tf.zeros([4, 6]) as tf.Tensor2D;
  const w2 = tf.zeros([6, 4]) as tf.Tensor2D;

  it('restates every shape when the kernels or biases do not fit', () => {
    expect(() => feedforwardRate({ w1, w2: w1 }, 'relu')).toThrow(
      /expected w2 of shape \[d_ff, d\] = \[6, 4\] for w1 \[d, d_ff\] = \[4, 6\], received w1 \[4, 6\], b1 undefined, w2 \[4, 6\], b2 undefined/,
    );
    expect(() => feedforwardRate({ w1, w2, b1: tf.zeros([4]) as tf.Tensor1D }, 'relu')).toThrow(
      /feedforwardRate: b1: expected a 1-D bias \[6\], received w1 \[4, 6\], b1 \[4\]/,
    );
    expect(() => feedforwardRate({ w1: tf.zeros([4]) as never, w2 }, 'relu')).toThrow(
      /feedforwardRate: w1: expected a 2-D kernel \[in, out\]/,
    );
    expect(() => feedforwardRate(null as never, 'relu')).toThrow(ShapeError);
  });

  it("refuses an unknown activation, pointing 'gelu' and 'gelu_new' to their names here", () => {
    expect(() => feedforwardRate({ w1, w2 }, 'gelu' as never)).toThrow(DomainError);
    expect(() => feedforwardRate({ w1, w2 }, 'gelu' as never)).toThrow(
      /activation: expected one of 'relu', 'gelu-erf', 'gelu-tanh', received "gelu" \('gelu' is 'gelu-erf'\)/,
    );
    expect(() => feedforwardRate({ w1, w2 }, 'gelu_new' as never)).toThrow(/\('gelu_new' is 'gelu-tanh'\)/);
    expect(() => feedforwardRate({ w1, w2 }, undefined as never)).toThrow(/received undefined/);
  });

  it('refuses a field of the wrong width and a non-field', () => {
    const rate = feedforwardRate({ w1, w2 }, 'relu');
    const u = field(tf.ones([1, 2, 5]));
    expect(() => rate.evaluate(u, 0)).toThrow(
      /feedforward.evaluate: expected a field with 4 features \(the rows of w1\), received \[1, 2, 5\]/,
    );
    expect(() => rate.evaluate(tf.ones([1, 2, 4]) as never, 0)).toThrow(ShapeError);
    u.dispose();
  });

  it('fromTorchFeedforward refuses weights that are not [d_ff, d] and [d, d_ff], and biases of the wrong width', () => {
    const l1 = tf.zeros([6, 4]) as tf.Tensor2D;
    expect(() => fromTorchFeedforward({ linear1Weight: l1, linear2Weight: tf.zeros([4, 4]) as tf.Tensor2D })).toThrow(
      /fromTorchFeedforward: expected linear1Weight \[d_ff, d\] and linear2Weight \[d, d_ff\].*received linear1Weight \[6, 4\], linear1Bias undefined, linear2Weight \[4, 4\]/,
    );
    expect(() =>
      fromTorchFeedforward({ linear1Weight: l1, linear2Weight: w1, linear1Bias: tf.zeros([4]) as tf.Tensor1D }),
    ).toThrow(/linear1Bias: expected a 1-D bias \[6\]/);
    expect(() =>
      fromTorchFeedforward({ linear1Weight: l1, linear2Weight: w1, linear2Bias: tf.zeros([6]) as tf.Tensor1D }),
    ).toThrow(/linear2Bias: expected a 1-D bias \[4\]/);
    expect(() => fromTorchFeedforward(undefined as never)).toThrow(ShapeError);
    l1.dispose();
  });
});
