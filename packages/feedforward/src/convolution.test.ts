import { describe, expect, it } from 'vitest';
import { tf } from '@tide/backend';
import {
  describeEachBackend,
  expectClose,
  expectNoLeaks,
  expectTensorCount,
  thrownBy,
  useBackend,
} from '@tide/backend/testing';
import {
  DomainError,
  ShapeError,
  field,
  gaussLegendreRule,
  imageTokenGrid,
  interval,
  productGrid,
  type Field,
} from '@tide/domain';
import { convolution, depthwiseConvolution, imageField } from './convolution.js';
import { featureTransform } from './feature-transform.js';
import fixture from './fixtures/convolutions.json' with { type: 'json' };
import { expectGradientsMatchDifferences } from './gradient-check.fixture.js';

type Nested = number | Nested[];
const maxAbs = (x: Nested): number => (Array.isArray(x) ? Math.max(...x.map(maxAbs)) : Math.abs(x));
/** 1e-5 relative to the reference's scale. */
const tolerance = (ref: Nested) => ({ atol: 1e-5 * Math.max(1, maxAbs(ref)), rtol: 1e-5 });

/** Checks tf.grads of `loss` against central differences for each argument, and that tf.grads leaves no tensors. */
function expectGradients(loss: (...xs: tf.Tensor[]) => tf.Scalar, args: tf.Tensor[], label: string): void {
  expectGradientsMatchDifferences(loss, args, label);
  const before = tf.memory().numTensors;
  tf.dispose(tf.grads(loss)(args));
  expect(tf.memory().numTensors, `${label}: tensors left by tf.grads`).toBe(before);
}

/** The field of an NCHW image from a fixture. */
const imageOf = (x: Nested) => imageField(tf.tensor4d(x as number[][][][]));

describeEachBackend('image fields', () => {
  it('imageField: [B, C, H, W] → [B, H·W, C] in raster order on imageTokenGrid(H, W), one tensor', async () => {
    const pixels = tf.reshape(tf.range(0, 2 * 3 * 4 * 5, 1, 'float32'), [2, 3, 4, 5]) as tf.Tensor4D;
    const u = await expectTensorCount(() => imageField(pixels), 1);
    expect(u.values.shape).toEqual([2, 20, 3]);
    expect(u.tokenGrid.layout).toEqual({ rows: 4, cols: 5, leading: 0 });
    expect(u.featureGrid.size).toBe(3);
    const p = pixels.arraySync();
    const v = u.values.arraySync();
    for (let b = 0; b < 2; b++)
      for (let c = 0; c < 3; c++)
        for (let i = 0; i < 4; i++) for (let j = 0; j < 5; j++) expect(v[b]![i * 5 + j]![c]).toBe(p[b]![c]![i]![j]);
    tf.dispose([pixels, u.values]);
  });
});

describeEachBackend('convolution', () => {
  it.each(fixture.conv)('equals torch.nn.functional.conv2d: $name', async (c) => {
    const u = imageOf(c.x);
    const w = tf.tensor4d(c.weight);
    const b = c.bias === null ? undefined : tf.tensor1d(c.bias);
    const v = await expectTensorCount(() => convolution(u, w, b, { stride: c.stride, padding: c.padding }), 1);
    expect(v.tokenGrid.layout).toEqual({ rows: c.rows, cols: c.cols, leading: 0 });
    expect(v.tokenGrid.weights[0]).toBeCloseTo(1 / (c.rows * c.cols), 15);
    expect(v.featureGrid.size).toBe(c.weight.length);
    expectClose(v.values, c.y, tolerance(c.y), c.name);
    tf.dispose([u.values, w, v.values, ...(b ? [b] : [])]);
  });

  it('a 1×1 kernel at stride 1 is the feature-integral transform u Wᵀ + b, on the same grid', () => {
    const u = imageOf(fixture.conv[0]!.x);
    const w = tf.randomNormal([4, 3, 1, 1], 0, 1, 'float32', 5) as tf.Tensor4D;
    const b = tf.randomNormal([4], 0, 1, 'float32', 6) as tf.Tensor1D;
    const v = convolution(u, w, b, { stride: 1, padding: 0 });
    const kernel = tf.transpose(tf.reshape(w, [4, 3])) as tf.Tensor2D; // [C_in, C_out]
    const ref = featureTransform(u, kernel, b);
    expect(v.tokenGrid).toBe(u.tokenGrid);
    expectClose(v.values, ref.values, { atol: 1e-5, rtol: 1e-5 });
    tf.dispose([u.values, w, b, v.values, kernel, ref.values]);
  });

  it('stride = evaluation on the coarser midpoint grid: a mean kernel with k = s, p = 0 reproduces a linear u', () => {
    const [rows, cols, s] = [6, 9, 3];
    const fine = imageTokenGrid(rows, cols);
    const linear = (x1: number, x2: number) => [0.3 + 2 * x1 - x2, -1 + 0.5 * x1 + 4 * x2];
    const at = (points: Float64Array) =>
      Array.from({ length: points.length / 2 }, (_, l) => linear(points[2 * l]!, points[2 * l + 1]!));
    const u = field(tf.tensor3d([at(fine.points)]), { tokenGrid: fine });
    const mean = tf.fill([2, 1, s, s], 1 / (s * s)) as tf.Tensor4D;
    const v = depthwiseConvolution(u, mean, { stride: s, padding: 0 });
    expect(v.tokenGrid.layout).toEqual({ rows: 2, cols: 3, leading: 0 });
    expectClose(v.values, [at(imageTokenGrid(2, 3).points)], { atol: 1e-5, rtol: 1e-5 });
    tf.dispose([u.values, mean, v.values]);
  });

  it('gradients with respect to u, the kernel and the bias match central differences; no leaks', () => {
    const c = fixture.conv[0]!;
    const u = imageOf(c.x);
    const w = tf.tensor4d(c.weight);
    const b = tf.tensor1d(c.bias!);
    const probe = tf.randomNormal([2, c.rows * c.cols, 5], 0, 1, 'float32', 3);
    const loss = (x: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) =>
      tf.sum(
        tf.mul(
          tf.tanh(convolution(u.withValues(x), ww as tf.Tensor4D, bb as tf.Tensor1D, { stride: 2, padding: 1 }).values),
          probe,
        ),
      ) as tf.Scalar;
    expectGradients(loss, [u.values, w, b], c.name);
    tf.dispose([u.values, w, b, probe]);
  });
});

describeEachBackend('depthwise convolution', () => {
  it.each(fixture.depthwise)('equals torch.nn.functional.conv2d with groups = C: $name', async (c) => {
    const u = imageOf(c.x);
    const w = tf.tensor4d(c.weight);
    const v = await expectTensorCount(() => depthwiseConvolution(u, w, { stride: c.stride, padding: c.padding }), 1);
    expect(v.tokenGrid.layout).toEqual({ rows: c.rows, cols: c.cols, leading: 0 });
    expect(v.featureGrid).toBe(u.featureGrid);
    if (c.rows === 5 && c.cols === 7) expect(v.tokenGrid).toBe(u.tokenGrid);
    expectClose(v.values, c.y, tolerance(c.y), c.name);
    tf.dispose([u.values, w, v.values]);
  });

  it('is the full convolution with a kernel diagonal in the features', () => {
    const c = fixture.depthwise[1]!;
    const u = imageOf(c.x);
    const w = tf.tensor4d(c.weight); // [4, 1, 3, 3]
    const diagonal = tf.mul(tf.reshape(tf.eye(4), [4, 4, 1, 1]), w) as tf.Tensor4D; // [4, 4, 3, 3]
    const a = depthwiseConvolution(u, w, { stride: 2, padding: 1 });
    const b = convolution(u, diagonal, undefined, { stride: 2, padding: 1 });
    expectClose(a.values, b.values, { atol: 1e-5, rtol: 1e-5 });
    tf.dispose([u.values, w, diagonal, a.values, b.values]);
  });

  it.each([
    { stride: 1, padding: 1 },
    { stride: 2, padding: 1 },
  ])('gradients with respect to u and the kernel match central differences (stride $stride); no leaks', (g) => {
    const c = fixture.depthwise[0]!;
    const u = imageOf(c.x);
    const w = tf.tensor4d(c.weight);
    const rows = Math.floor((5 + 2 * g.padding - 3) / g.stride) + 1;
    const cols = Math.floor((7 + 2 * g.padding - 3) / g.stride) + 1;
    const probe = tf.randomNormal([2, rows * cols, 4], 0, 1, 'float32', 4);
    const loss = (x: tf.Tensor, ww: tf.Tensor) =>
      tf.sum(tf.mul(tf.tanh(depthwiseConvolution(u.withValues(x), ww as tf.Tensor4D, g).values), probe)) as tf.Scalar;
    expectGradients(loss, [u.values, w], `stride ${g.stride}`);
    tf.dispose([u.values, w, probe]);
  });
});

describe('convolution gradients without tfjs backprop kernels (as on wasm)', () => {
  // The adjoint written with kernel taps must equal tfjs's own backprop kernels: on cpu, hide the kernels for one
  // evaluation. Geometries cover phases without taps (k < s), a cut padded image (k = s, p = 0) and even kernels.
  const geometries = [
    { k: 3, stride: 2, padding: 1, rows: 7, cols: 6 },
    { k: 7, stride: 4, padding: 2, rows: 16, cols: 13 },
    { k: 3, stride: 3, padding: 0, rows: 5, cols: 7 },
    { k: 2, stride: 1, padding: 0, rows: 3, cols: 4 },
    { k: 5, stride: 2, padding: 1, rows: 5, cols: 7 },
    { k: 1, stride: 2, padding: 0, rows: 5, cols: 4 },
    { k: 2, stride: 3, padding: 2, rows: 4, cols: 5 },
  ];
  const hidden = (names: readonly string[], body: () => tf.Tensor[]): tf.Tensor[] => {
    const configs = names.map((name) => tf.getKernel(name, 'cpu')!);
    names.forEach((name) => tf.unregisterKernel(name, 'cpu'));
    try {
      return body();
    } finally {
      configs.forEach((config) => tf.registerKernel(config));
    }
  };

  it.each(geometries)('k $k, stride $stride, padding $padding on $rows×$cols', async (g) => {
    await useBackend('cpu');
    const [cIn, cOut] = [3, 2];
    const u = field(tf.randomNormal([2, g.rows * g.cols, cIn], 0, 1, 'float32', 1) as tf.Tensor3D, {
      tokenGrid: imageTokenGrid(g.rows, g.cols),
    });
    const w = tf.randomNormal([cOut, cIn, g.k, g.k], 0, 1, 'float32', 2) as tf.Tensor4D;
    const dw = tf.randomNormal([cIn, 1, g.k, g.k], 0, 1, 'float32', 3) as tf.Tensor4D;
    const geometry = { stride: g.stride, padding: g.padding };
    const out = convolution(u, w, undefined, geometry);
    const dyFull = tf.randomNormal(out.values.shape, 0, 1, 'float32', 4);
    const dyDepth = tf.randomNormal([2, out.tokens, cIn], 0, 1, 'float32', 5);
    const full = () =>
      tf.grads(
        (x: tf.Tensor, ww: tf.Tensor) => convolution(u.withValues(x), ww as tf.Tensor4D, undefined, geometry).values,
      )([u.values, w], dyFull);
    const depth = () =>
      tf.grads(
        (x: tf.Tensor, ww: tf.Tensor) => depthwiseConvolution(u.withValues(x), ww as tf.Tensor4D, geometry).values,
      )([u.values, dw], dyDepth);
    const native = [...full(), ...depth()];
    const adjoint = [
      ...hidden(['Conv2DBackpropFilter'], full),
      ...hidden(['DepthwiseConv2dNativeBackpropInput', 'DepthwiseConv2dNativeBackpropFilter'], depth),
    ];
    ['conv: u', 'conv: weight', 'depthwise: u', 'depthwise: weight'].forEach((label, i) =>
      expectClose(adjoint[i]!, native[i]!, { atol: 1e-4, rtol: 1e-4 }, label),
    );
    await expectNoLeaks(() =>
      hidden(['DepthwiseConv2dNativeBackpropInput', 'DepthwiseConv2dNativeBackpropFilter'], depth),
    );
    tf.dispose([u.values, w, dw, out.values, dyFull, dyDepth, ...native, ...adjoint]);
  });
});

describe('convolution: bad input', () => {
  const image = (rows: number, cols: number, channels = 3): Field =>
    field(tf.ones([1, rows * cols, channels]) as tf.Tensor3D, { tokenGrid: imageTokenGrid(rows, cols) });
  const g = { stride: 1, padding: 1 };

  it('imageField names the NCHW shape and the dtype', () => {
    expect(() => imageField(tf.ones([3, 4, 5]) as never)).toThrow(/pixels: expected a 4-D image tensor \[B, C, H, W\]/);
    expect(() => imageField(tf.ones([1, 3, 4, 5], 'int32') as tf.Tensor4D)).toThrow(/pixels dtype: expected float32/);
    expect(() => imageField([1, 2] as never)).toThrow(ShapeError);
  });

  it('refuses a class token, a 1-D grid, a non-uniform grid and per-sample token weights', () => {
    const w = tf.ones([2, 3, 3, 3]) as tf.Tensor4D;
    const withClass = field(tf.ones([1, 1 + 12, 3]) as tf.Tensor3D, {
      tokenGrid: imageTokenGrid(3, 4, { classToken: true }),
    });
    const e = thrownBy(() => convolution(withClass, w, undefined, g));
    expect(e).toBeInstanceOf(DomainError);
    expect(e.message).toMatch(
      /convolution: token grid: expected .*no leading tokens.*received 1 leading token.*split the class token off first/,
    );
    expect(() => depthwiseConvolution(field(tf.ones([1, 12, 3])), tf.ones([3, 1, 3, 3]) as tf.Tensor4D, g)).toThrow(
      /depthwiseConvolution: token grid: expected a 2-D image token grid/,
    );
    const gl = gaussLegendreRule(interval(0, 1), 3);
    const skewed = field(tf.ones([1, 9, 3]) as tf.Tensor3D, { tokenGrid: productGrid(gl, gl) });
    expect(() => convolution(skewed, w, undefined, g)).toThrow(/expected the 3 × 3 midpoint patch grid of \[0, 1\]²/);
    const padded = field(tf.ones([1, 12, 3]) as tf.Tensor3D, {
      tokenGrid: imageTokenGrid(3, 4),
      tokenWeights: new Array<number>(12).fill(1 / 12),
    });
    expect(() => convolution(padded, w, undefined, g)).toThrow(/token weights: expected no per-sample token weights/);
    expect(() => convolution({} as never, w, undefined, g)).toThrow(/expected a Field/);
    tf.dispose([w, withClass.values, skewed.values, padded.values]);
  });

  it('names the kernel, bias and channel counts', () => {
    const u = image(4, 5);
    expect(() => convolution(u, tf.ones([2, 3, 3]) as never, undefined, g)).toThrow(
      /weight: expected a 4-D kernel \[C_out, C_in, k, k\]/,
    );
    expect(() => convolution(u, tf.ones([2, 4, 3, 3]) as tf.Tensor4D, undefined, g)).toThrow(
      /weight: expected a kernel \[C_out, 3, k, k\].*received \[2, 4, 3, 3\]/,
    );
    expect(() => convolution(u, tf.ones([2, 3, 3, 2]) as tf.Tensor4D, undefined, g)).toThrow(/only square kernels/);
    expect(() => convolution(u, tf.ones([2, 3, 3, 3], 'int32') as tf.Tensor4D, undefined, g)).toThrow(
      /weight dtype: expected float32/,
    );
    expect(() => convolution(u, tf.ones([2, 3, 3, 3]) as tf.Tensor4D, tf.ones([3]) as tf.Tensor1D, g)).toThrow(
      /bias: expected a 1-D bias \[2\]/,
    );
    expect(() => depthwiseConvolution(u, tf.ones([3, 2, 3, 3]) as tf.Tensor4D, g)).toThrow(
      /weight: expected a depthwise kernel \[3, 1, k, k\].*use convolution\(\) for a full kernel/,
    );
    expect(() => depthwiseConvolution(u, tf.ones([4, 1, 3, 3]) as tf.Tensor4D, g)).toThrow(
      /received \[4, 1, 3, 3\].*one channel per feature/,
    );
    expect(() => depthwiseConvolution(u, tf.ones([3, 1, 3]) as never, g)).toThrow(ShapeError);
    u.dispose();
  });

  it('names a bad stride, padding or a kernel larger than the padded grid', () => {
    const u = image(2, 6);
    const w = tf.ones([3, 1, 3, 3]) as tf.Tensor4D;
    for (const [geometry, message] of [
      [{ stride: 0, padding: 1 }, /stride: expected an integer ≥ 1, received 0/],
      [{ stride: 1.5, padding: 1 }, /stride: expected an integer ≥ 1, received 1.5/],
      [{ stride: '2', padding: 1 }, /stride: expected an integer ≥ 1, received "2"/],
      [{ stride: 1, padding: -1 }, /padding: expected an integer ≥ 0, received -1/],
      [{ stride: 1, padding: 0.5 }, /padding: expected an integer ≥ 0, received 0.5/],
      [undefined, /geometry: expected \{ stride, padding \}/],
    ] as const)
      expect(() => depthwiseConvolution(u, w, geometry as never)).toThrow(message);
    const big = tf.ones([3, 1, 5, 5]) as tf.Tensor4D;
    const e = thrownBy(() => depthwiseConvolution(u, big, { stride: 1, padding: 1 }));
    expect(e).toBeInstanceOf(DomainError);
    expect(e.message).toMatch(/kernel: expected a kernel no larger than the padded grid \(k ≤ 4.*received k = 5/);
    const fits = depthwiseConvolution(u, big, { stride: 1, padding: 2 });
    expect(fits.tokenGrid.layout).toEqual({ rows: 2, cols: 6, leading: 0 });
    tf.dispose([u.values, w, big, fits.values]);
  });
});
