import { describe, expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { describeEachBackend, expectClose, expectNoLeaks, expectTensorCount, thrownBy } from '@tide/backend/testing';
import { DomainError, ShapeError, field, imageTokenGrid } from '@tide/domain';
import { batchNormAffine, type BatchNormParameters } from './batch-norm.js';
import { imageField } from './convolution.js';
import fixture from './fixtures/convolutions.json' with { type: 'json' };
import { expectGradientsMatchDifferences } from './gradient-check.fixture.js';

type Nested = number | Nested[];
const maxAbs = (x: Nested): number => (Array.isArray(x) ? Math.max(...x.map(maxAbs)) : Math.abs(x));

const normOf = (n: (typeof fixture.batchnorm)[number]['norm']): BatchNormParameters => ({
  mean: tf.tensor1d(n.mean),
  variance: tf.tensor1d(n.variance),
  weight: tf.tensor1d(n.weight),
  bias: tf.tensor1d(n.bias),
  epsilon: n.epsilon,
});
const disposeNorm = (n: BatchNormParameters) => tf.dispose([n.mean, n.variance, n.weight, n.bias]);

describeEachBackend('BatchNorm (eval) as a per-feature affine map', () => {
  it.each(fixture.batchnorm)('equals nn.BatchNorm2d(C).eval(): $name', async (c) => {
    const u = imageField(tf.tensor4d(c.x as number[][][][]));
    const norm = normOf(c.norm);
    const v = await expectTensorCount(() => batchNormAffine(u, norm), 1);
    expect(v.tokenGrid).toBe(u.tokenGrid);
    expect(v.featureGrid).toBe(u.featureGrid);
    expectClose(v.values, c.y, { atol: 1e-5 * Math.max(1, maxAbs(c.y)), rtol: 1e-5 }, c.name);
    tf.dispose([u.values, v.values]);
    disposeNorm(norm);
  });

  it('acts on every token alike (a class token too): u·a + b with a = γ/√(σ² + ε), b = β − μ·a', () => {
    const grid = imageTokenGrid(2, 2, { classToken: true });
    const data = [
      [
        [1, -2],
        [0.5, 3],
        [-1, 0],
        [2, 2],
        [0, -4],
      ],
    ];
    const u = field(tf.tensor3d(data), { tokenGrid: grid });
    const [mu, s2, g, b, eps] = [[0.5, -1], [2, 0.25], [1.5, -0.5], [0.1, 0.2], 0.01] as const;
    const norm: BatchNormParameters = {
      mean: tf.tensor1d([...mu]),
      variance: tf.tensor1d([...s2]),
      weight: tf.tensor1d([...g]),
      bias: tf.tensor1d([...b]),
      epsilon: eps,
    };
    const v = batchNormAffine(u, norm);
    const expected = data.map((rows) =>
      rows.map((r) => r.map((x, c) => ((x - mu[c]!) / Math.sqrt(s2[c]! + eps)) * g[c]! + b[c]!)),
    );
    expectClose(v.values, expected, { atol: 1e-6, rtol: 1e-6 });
    tf.dispose([u.values, v.values]);
    disposeNorm(norm);
  });

  it('gradients with respect to u and all four parameters match central differences; no leaks', async () => {
    const c = fixture.batchnorm[1]!;
    const u = imageField(tf.tensor4d(c.x as number[][][][]));
    const n = normOf(c.norm);
    const probe = tf.randomNormal(u.values.shape, 0, 1, 'float32', 7);
    const loss = (x: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor) =>
      tf.sum(
        tf.mul(
          tf.tanh(
            batchNormAffine(u.withValues(x), {
              mean: mean as tf.Tensor1D,
              variance: variance as tf.Tensor1D,
              weight: weight as tf.Tensor1D,
              bias: bias as tf.Tensor1D,
              epsilon: c.norm.epsilon,
            }).values,
          ),
          probe,
        ),
      );
    const args = [u.values, n.mean, n.variance, n.weight, n.bias];
    expectGradientsMatchDifferences(loss as (...xs: tf.Tensor[]) => tf.Tensor, args, 'batchNormAffine', 30);
    await expectNoLeaks(() => tf.grads(loss)(args));
    tf.dispose([u.values, probe]);
    disposeNorm(n);
  });
});

describe('BatchNorm: bad input', () => {
  it('names the parameter, its length and the fix; ε must be finite and > 0', () => {
    const u = field(tf.ones([1, 4, 3]));
    const ok = () => ({
      mean: tf.zeros([3]) as tf.Tensor1D,
      variance: tf.ones([3]) as tf.Tensor1D,
      weight: tf.ones([3]) as tf.Tensor1D,
      bias: tf.zeros([3]) as tf.Tensor1D,
      epsilon: 1e-5,
    });
    const e = thrownBy(() => batchNormAffine(u, { ...ok(), variance: tf.ones([4]) as tf.Tensor1D }));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toMatch(
      /norm.variance: expected a 1-D tensor \[3\] \(one value per feature of u\), received \[4\].*running_var/,
    );
    expect(() => batchNormAffine(u, { ...ok(), mean: tf.zeros([1, 3]) as never })).toThrow(
      /norm.mean: expected a 1-D tensor/,
    );
    expect(() => batchNormAffine(u, { ...ok(), bias: undefined as never })).toThrow(/norm.bias: .*received undefined/);
    expect(() => batchNormAffine(u, { ...ok(), weight: tf.ones([3], 'int32') as tf.Tensor1D })).toThrow(
      /norm.weight dtype: expected float32/,
    );
    for (const [eps, shown] of [
      [0, '0'],
      [-1e-5, '-0.00001'],
      [NaN, 'NaN'],
      [Infinity, 'Infinity'],
      ['1e-5', '"1e-5"'],
    ] as const) {
      const err = thrownBy(() => batchNormAffine(u, { ...ok(), epsilon: eps as number }));
      expect(err).toBeInstanceOf(DomainError);
      expect(err.message).toContain(`norm.epsilon: expected a finite number > 0, received ${shown}`);
    }
    expect(() => batchNormAffine(u, undefined as never)).toThrow(
      /norm: expected \{ mean, variance, weight, bias, epsilon \}/,
    );
    expect(() => batchNormAffine(tf.ones([1, 4, 3]) as never, ok())).toThrow(/expected a Field/);
    u.dispose();
  });
});

it('refuses a negative running variance (it would give NaN silently)', () => {
  const c = 2;
  const u = field(tf.ones([1, 4, c]) as tf.Tensor3D, { tokenGrid: imageTokenGrid(2, 2) });
  const norm = {
    mean: tf.zeros([c]) as tf.Tensor1D,
    variance: tf.tensor1d([1, -0.5]),
    weight: tf.ones([c]) as tf.Tensor1D,
    bias: tf.zeros([c]) as tf.Tensor1D,
    epsilon: 1e-5,
  };
  const before = tf.memory().numTensors;
  expect(() => batchNormAffine(u, norm)).toThrow(DomainError);
  expect(() => batchNormAffine(u, norm)).toThrow(/running variances ≥ 0/);
  expect(tf.memory().numTensors).toBe(before);
  tf.dispose([u.values, norm.mean, norm.variance, norm.weight, norm.bias]);
});
