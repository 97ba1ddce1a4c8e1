import { describe, expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { describeEachBackend, expectClose, expectNoLeaks, expectTensorCount, thrownBy } from '@tide/backend/testing';
import { DomainError, ShapeError, field, imageTokenGrid } from '@tide/domain';
import { batchNormAffine, type BatchNormParameters } from './batch-norm.js';
import { depthwiseConvolution, imageField } from './convolution.js';
import { convolutionalMap } from './convolutional-map.js';
import fixture from './fixtures/convolutions.json' with { type: 'json' };
import { expectGradientsMatchDifferences } from './gradient-check.fixture.js';

type Nested = number | Nested[];
const maxAbs = (x: Nested): number => (Array.isArray(x) ? Math.max(...x.map(maxAbs)) : Math.abs(x));

const paramsOf = (c: (typeof fixture.dw_bn)[number]) => ({
  weight: tf.tensor4d(c.weight),
  norm: {
    mean: tf.tensor1d(c.norm.mean),
    variance: tf.tensor1d(c.norm.variance),
    weight: tf.tensor1d(c.norm.weight),
    bias: tf.tensor1d(c.norm.bias),
    epsilon: c.norm.epsilon,
  } satisfies BatchNormParameters,
});
const disposeParams = (p: ReturnType<typeof paramsOf>) =>
  tf.dispose([p.weight, p.norm.mean, p.norm.variance, p.norm.weight, p.norm.bias]);

describeEachBackend("CvT's dw_bn convolutional map", () => {
  it.each(fixture.dw_bn)('equals Sequential(Conv2d(groups=C, bias=False), BatchNorm2d).eval(): $name', async (c) => {
    const u = imageField(tf.tensor4d(c.x as number[][][][]));
    const p = paramsOf(c);
    const map = await expectTensorCount(() => convolutionalMap(p, { stride: c.stride, padding: c.padding }), 0);
    const v = await expectTensorCount(() => map(u), 1);
    expect(v.tokenGrid.layout).toEqual({ rows: c.rows, cols: c.cols, leading: 0 });
    expect(v.featureGrid).toBe(u.featureGrid);
    expectClose(v.values, c.y, { atol: 1e-5 * Math.max(1, maxAbs(c.y)), rtol: 1e-5 }, c.name);
    // The map is its two sub-steps in order.
    const conv = depthwiseConvolution(u, p.weight, { stride: c.stride, padding: c.padding });
    const steps = batchNormAffine(conv, p.norm);
    expectClose(v.values, steps.values, { atol: 0, rtol: 0 }, 'depthwise convolution, then BatchNorm');
    tf.dispose([u.values, v.values, conv.values, steps.values]);
    disposeParams(p);
  });

  it('gradients with respect to u, the kernel and the BatchNorm scale match central differences; no leaks', async () => {
    const c = fixture.dw_bn[1]!;
    const u = imageField(tf.tensor4d(c.x as number[][][][]));
    const p = paramsOf(c);
    const probe = tf.randomNormal([2, c.rows * c.cols, 6], 0, 1, 'float32', 8);
    const loss = (x: tf.Tensor, w: tf.Tensor, gamma: tf.Tensor) =>
      tf.sum(
        tf.mul(
          tf.tanh(
            convolutionalMap(
              { weight: w as tf.Tensor4D, norm: { ...p.norm, weight: gamma as tf.Tensor1D } },
              { stride: 2, padding: 1 },
            )(u.withValues(x)).values,
          ),
          probe,
        ),
      );
    const args = [u.values, p.weight, p.norm.weight];
    expectGradientsMatchDifferences(loss as (...xs: tf.Tensor[]) => tf.Tensor, args, 'dw_bn', 40);
    await expectNoLeaks(() => tf.grads(loss)(args));
    tf.dispose([u.values, probe]);
    disposeParams(p);
  });
});

describe('convolutional map: bad input', () => {
  const c = fixture.dw_bn[0]!;

  it('checks the kernel, the BatchNorm and the geometry when the map is built', () => {
    const p = paramsOf(c);
    const g = { stride: 1, padding: 1 };
    expect(() =>
      convolutionalMap({ ...p, weight: tf.ones([6, 6, 3, 3]) as tf.Tensor4D }, g, 'query projection'),
    ).toThrow(/^query projection: weight: expected a depthwise kernel \[C, 1, k, k\]/);
    const e = thrownBy(() => convolutionalMap({ ...p, norm: { ...p.norm, mean: tf.zeros([5]) as tf.Tensor1D } }, g));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toMatch(
      /^convolutionalMap: norm.mean: expected a 1-D tensor \[6\] \(one value per channel of the kernel\), received \[5\]/,
    );
    expect(() => convolutionalMap({ ...p, norm: { ...p.norm, epsilon: 0 } }, g)).toThrow(
      /norm.epsilon: expected a finite number > 0, received 0/,
    );
    expect(() => convolutionalMap(p, { stride: 0, padding: 1 }, 'key projection')).toThrow(
      /^key projection: stride: expected an integer ≥ 1, received 0/,
    );
    expect(() => convolutionalMap(p, { stride: 2, padding: -1 })).toThrow(DomainError);
    expect(() => convolutionalMap(undefined as never, g)).toThrow(/params: expected \{ weight: \[C, 1, k, k\], norm/);
    expect(() => convolutionalMap(p, g, '')).toThrow(/label: expected a non-empty string/);
    disposeParams(p);
  });

  it('checks each field it is applied to, naming the map; later edits of the geometry do not reach it', () => {
    const p = paramsOf(c);
    const geometry = { stride: 1, padding: 1 };
    const map = convolutionalMap(p, geometry, 'value projection');
    geometry.stride = 2;
    const withClass = field(tf.ones([1, 1 + 20, 6]) as tf.Tensor3D, {
      tokenGrid: imageTokenGrid(4, 5, { classToken: true }),
    });
    expect(() => map(withClass)).toThrow(/^value projection: token grid: .*split the class token off first/);
    const narrow = field(tf.ones([1, 20, 4]) as tf.Tensor3D, { tokenGrid: imageTokenGrid(4, 5) });
    expect(() => map(narrow)).toThrow(/^value projection: weight: expected a depthwise kernel \[4, 1, k, k\]/);
    const u = field(tf.ones([1, 20, 6]) as tf.Tensor3D, { tokenGrid: imageTokenGrid(4, 5) });
    const v = map(u);
    expect(v.tokenGrid.layout).toEqual({ rows: 4, cols: 5, leading: 0 });
    tf.dispose([withClass.values, narrow.values, u.values, v.values]);
    disposeParams(p);
  });
});

it("with leadingTokens: 'pass' the class token skips the map and the patches go onto the strided grid", async () => {
  await tf.setBackend('cpu');
  const c = 4;
  const weight = tf.randomNormal([c, 1, 3, 3], 0, 0.5, 'float32', 1) as tf.Tensor4D;
  const norm = {
    mean: tf.randomNormal([c], 0, 0.1, 'float32', 4) as tf.Tensor1D,
    variance: tf.randomUniform([c], 0.5, 1.5, 'float32', 5) as tf.Tensor1D,
    weight: tf.randomNormal([c], 1, 0.1, 'float32', 2) as tf.Tensor1D,
    bias: tf.randomNormal([c], 0, 0.1, 'float32', 3) as tf.Tensor1D,
    epsilon: 1e-5,
  };
  const values = tf.randomNormal([2, 1 + 16, c], 0, 1, 'float32', 6) as tf.Tensor3D;
  const u = field(values, { tokenGrid: imageTokenGrid(4, 4, { classToken: true }) });
  const map = convolutionalMap({ weight, norm }, { stride: 2, padding: 1 }, 'key map', { leadingTokens: 'pass' });
  const out = map(u);
  expect(out.values.shape).toEqual([2, 1 + 4, c]);
  expect(out.tokenGrid.layout).toEqual({ rows: 2, cols: 2, leading: 1 });
  const patches = field(tf.slice(values, [0, 1, 0], [2, 16, c]) as tf.Tensor3D, { tokenGrid: imageTokenGrid(4, 4) });
  const plain = convolutionalMap({ weight, norm }, { stride: 2, padding: 1 })(patches);
  expectClose(tf.slice(out.values, [0, 0, 0], [2, 1, c]), tf.slice(values, [0, 0, 0], [2, 1, c]));
  expectClose(tf.slice(out.values, [0, 1, 0], [2, 4, c]), plain.values, { rtol: 1e-6, atol: 1e-6 });
  await expectNoLeaks(() => [map(u).values]);
  expect(() => convolutionalMap({ weight, norm }, { stride: 2, padding: 1 })(u)).toThrow(/split the class token off/);
  expect(() =>
    convolutionalMap({ weight, norm }, { stride: 1, padding: 1 }, 'm', { leadingTokens: 'keep' as never }),
  ).toThrow(/leadingTokens/);
  tf.dispose([
    out.values,
    plain.values,
    patches.values,
    values,
    weight,
    ...Object.values(norm).filter((x) => typeof x !== 'number'),
  ]);
});
