/**
 * Convolutions as local integral operators on an image token grid (paper §6; docs/convolutional-kernels.md).
 *
 * On the token domain Ω_x = [0, 1]² a convolution lifts C_in features to C_out with a kernel of small support:
 *
 *     (k ⋆ u)(x, y) = ∫_{Ω_x} ∫_{Ω_y} k(x̃ − x; ξ, y) u(x̃, ξ) dξ dx̃ + b(y)
 *
 * On the midpoint grid of `rows × cols` cells (raster order, docs/image-domains.md), with the cell area folded into
 * the weights as the feature weights are in `u W`, it is PyTorch's `nn.Conv2d` (zero padding: u extended by 0 around
 * the grid). A stride s evaluates the result on a coarser midpoint grid of the same Ω_x,
 * `rows' = ⌊(rows + 2p − k)/s⌋ + 1` (likewise cols'). Fields are `[B, rows·cols, C]`, i.e. NHWC flattened; kernels
 * keep PyTorch's layout `[C_out, C_in, k, k]` and are transposed to tfjs's `[k, k, C_in, C_out]` inside.
 *
 * Gradients. The forward pass runs tfjs's `Conv2D` / `DepthwiseConv2dNative` kernels, which cpu, wasm and webgl all
 * register. tfjs differentiates them with `Conv2DBackpropInput` + `Conv2DBackpropFilter` and
 * `DepthwiseConv2dNativeBackpropInput` + `…Filter`: cpu and webgl register all four and use them; wasm registers
 * only `Conv2DBackpropInput`, so there the gradient is the same linear map's exact adjoint written with ops that
 * every backend has (the k² kernel taps below: shifted, subsampled views of the padded image). Every backend thus
 * gives first-order gradients with respect to the field, the kernel and the bias; on wasm there are no
 * second-order gradients through a convolution.
 */
import { tf, describeValue, formatShape } from '@tide/backend';
import {
  DomainError,
  ShapeError,
  checkField,
  featureGrid as unitFeatureGrid,
  field,
  checkPatchGrid,
  imageTokenGrid,
  type Field,
} from '@tide/domain';

/** Stride and zero padding of a square-kernel convolution (PyTorch's `stride` and `padding`, in cells). */
export interface ConvolutionGeometry {
  /** s ≥ 1, an integer: the output lives on the grid coarser by s (1 keeps the grid for `k = 2p + 1`). */
  readonly stride: number;
  /** p ≥ 0, an integer: zero cells added on every side of the grid. */
  readonly padding: number;
}

/** The kernels tfjs's own gradients of `conv2d` / `depthwiseConv2d` need. */
const CONV2D_GRADIENT_KERNELS = ['Conv2DBackpropInput', 'Conv2DBackpropFilter'] as const;
const DEPTHWISE_GRADIENT_KERNELS = [
  'DepthwiseConv2dNativeBackpropInput',
  'DepthwiseConv2dNativeBackpropFilter',
] as const;

/** True when the active backend registers every kernel of `names`. */
function hasKernels(names: readonly string[]): boolean {
  const backend = tf.getBackend();
  return names.every((name) => tf.getKernel(name, backend) !== undefined);
}

/**
 * An image `[B, C, H, W]` (PyTorch's NCHW) as a field on `imageTokenGrid(H, W)` with C features:
 * `values[b, i·W + j, c] = pixels[b, c, i, j]`, `[B, H·W, C]` (paper §6; docs/image-domains.md).
 * Checks shapes and dtype only (NaN is the caller's to check). The caller owns the new field.
 */
export function imageField(pixels: tf.Tensor4D): Field {
  if (!(pixels instanceof tf.Tensor) || pixels.rank !== 4 || pixels.shape.some((n) => n < 1)) {
    throw new ShapeError('imageField: pixels', {
      expected: 'a 4-D image tensor [B, C, H, W] (PyTorch NCHW) with every size ≥ 1',
      received: describeValue(pixels),
      fix: 'pass tf.tensor4d(data, [B, C, H, W]); an NHWC image must be transposed with [0, 3, 1, 2] first',
    });
  }
  checkFloat32('imageField', 'pixels', pixels);
  const [b, c, h, w] = pixels.shape as [number, number, number, number];
  const values = tf.tidy(() => tf.reshape(tf.transpose(pixels, [0, 2, 3, 1]), [b, h * w, c]) as tf.Tensor3D); // [B, H·W, C]
  return field(values, { tokenGrid: imageTokenGrid(h, w), featureGrid: unitFeatureGrid(c) });
}

/**
 * PyTorch's `nn.Conv2d(C_in, C_out, k, stride, padding)` (zero padding, square kernel) as a local integral operator
 * that lifts C_in features to C_out on the coarser grid (paper §6; docs/convolutional-kernels.md):
 *
 *     v(x', y) = Σ_{a,b < k} Σ_c weight[y, c, a, b] · u(x_{s·i' − p + a, s·j' − p + b}, c) + bias[y]
 *
 * `u`: `[B, rows·cols, C_in]` on an image grid without leading tokens (split a class token off first);
 * `weight`: `[C_out, C_in, k, k]`; `bias`: `[C_out]` or undefined; returns `[B, rows'·cols', C_out]` on
 * `imageTokenGrid(rows', cols')`, `rows' = ⌊(rows + 2p − k)/s⌋ + 1` (the input grid itself when the size is kept).
 * Differentiable on every backend (see the module notes). The caller owns the new field.
 */
export function convolution(
  u: Field,
  weight: tf.Tensor4D,
  bias: tf.Tensor1D | undefined,
  geometry: ConvolutionGeometry,
): Field {
  const subject = 'convolution';
  const { rows, cols } = checkImageField(subject, u);
  const { k, cOut } = checkKernel(subject, weight, u.features);
  if (bias !== undefined && (!(bias instanceof tf.Tensor) || bias.rank !== 1 || bias.shape[0] !== cOut)) {
    throw new ShapeError(`${subject}: bias`, {
      expected: `a 1-D bias [${cOut}] (one value per output channel) or undefined`,
      received: describeValue(bias),
      fix: "pass the Conv2d's bias as tf.tensor1d, or undefined for bias=False",
    });
  }
  if (bias !== undefined) checkFloat32(subject, 'bias', bias);
  const plan = planTaps(subject, k, rows, cols, checkGeometry(subject, geometry));
  const values = tf.tidy(() => {
    const x = tf.reshape(u.values, [u.batch, rows, cols, u.features]) as tf.Tensor4D; // [B, rows, cols, C_in]
    const w = tf.transpose(weight, [2, 3, 1, 0]) as tf.Tensor4D; // [k, k, C_in, C_out]
    const y = conv2d(x, w, plan); // [B, rows', cols', C_out]
    const v = tf.reshape(y, [u.batch, plan.outRows * plan.outCols, cOut]); // [B, rows'·cols', C_out]
    return (bias === undefined ? v : tf.add(v, bias)) as tf.Tensor3D;
  });
  return onOutputGrid(u, values, plan, cOut);
}

/**
 * PyTorch's `nn.Conv2d(C, C, k, stride, padding, groups=C, bias=False)`: one k×k kernel per feature, the local
 * operator that is diagonal in y (paper §6; docs/convolutional-kernels.md),
 *
 *     v(x', c) = Σ_{a,b < k} weight[c, 0, a, b] · u(x_{s·i' − p + a, s·j' − p + b}, c)
 *
 * `u`: `[B, rows·cols, C]` on an image grid without leading tokens; `weight`: `[C, 1, k, k]`; returns
 * `[B, rows'·cols', C]` on `imageTokenGrid(rows', cols')` (the input grid itself when the size is kept), with u's
 * feature grid. Differentiable on every backend (see the module notes). The caller owns the new field.
 */
export function depthwiseConvolution(u: Field, weight: tf.Tensor4D, geometry: ConvolutionGeometry): Field {
  return depthwiseConvolutionOf('depthwiseConvolution', u, weight, geometry);
}

/** {@link depthwiseConvolution} with `subject` naming the caller in errors. @internal */
export function depthwiseConvolutionOf(
  subject: string,
  u: Field,
  weight: tf.Tensor4D,
  geometry: ConvolutionGeometry,
): Field {
  const { rows, cols } = checkImageField(subject, u);
  const k = checkDepthwiseKernel(subject, weight, u.features);
  const plan = planTaps(subject, k, rows, cols, checkGeometry(subject, geometry));
  const values = tf.tidy(() => {
    const x = tf.reshape(u.values, [u.batch, rows, cols, u.features]) as tf.Tensor4D; // [B, rows, cols, C]
    const w = tf.transpose(weight, [2, 3, 0, 1]) as tf.Tensor4D; // [k, k, C, 1]
    const y = depthwiseConv2d(x, w, plan); // [B, rows', cols', C]
    return tf.reshape(y, [u.batch, plan.outRows * plan.outCols, u.features]) as tf.Tensor3D; // [B, rows'·cols', C]
  });
  return onOutputGrid(u, values, plan, u.features);
}

/** Checks a depthwise kernel `[C, 1, k, k]` against the C features it acts on; returns k. @internal */
export function checkDepthwiseKernel(subject: string, weight: unknown, channels?: number): number {
  if (!(weight instanceof tf.Tensor) || weight.rank !== 4) {
    throw new ShapeError(`${subject}: weight`, {
      expected: 'a 4-D depthwise kernel [C, 1, k, k] (PyTorch Conv2d with groups = C)',
      received: describeValue(weight),
      fix: "pass the depthwise Conv2d's weight as tf.tensor4d(data, [C, 1, k, k])",
    });
  }
  const [c, one, kh, kw] = weight.shape as [number, number, number, number];
  if (one !== 1 || kh !== kw || kh < 1 || (channels !== undefined && c !== channels)) {
    throw new ShapeError(`${subject}: weight`, {
      expected: `a depthwise kernel [${channels ?? 'C'}, 1, k, k] (one square k×k kernel per feature of u)`,
      received: formatShape(weight.shape),
      fix:
        one !== 1
          ? 'a grouped Conv2d with groups = C has weight [C, 1, k, k]; use convolution() for a full kernel'
          : kh !== kw
            ? 'only square kernels are supported'
            : 'the kernel needs one channel per feature of the field',
    });
  }
  checkFloat32(subject, 'weight', weight);
  return kh;
}

/** Checks a full kernel `[C_out, C_in, k, k]` against the C_in features it acts on. */
function checkKernel(subject: string, weight: unknown, channels: number): { k: number; cOut: number } {
  if (!(weight instanceof tf.Tensor) || weight.rank !== 4) {
    throw new ShapeError(`${subject}: weight`, {
      expected: 'a 4-D kernel [C_out, C_in, k, k] (PyTorch Conv2d layout)',
      received: describeValue(weight),
      fix: "pass the Conv2d's weight as tf.tensor4d(data, [C_out, C_in, k, k])",
    });
  }
  const [cOut, cIn, kh, kw] = weight.shape as [number, number, number, number];
  if (cIn !== channels || kh !== kw || kh < 1 || cOut < 1) {
    throw new ShapeError(`${subject}: weight`, {
      expected: `a kernel [C_out, ${channels}, k, k] (C_in = ${channels}, the features of u; a square k×k kernel)`,
      received: formatShape(weight.shape),
      fix:
        kh !== kw
          ? 'only square kernels are supported'
          : 'the second axis is the input channels: it must match the field, and PyTorch stores [out, in, k, k]',
    });
  }
  checkFloat32(subject, 'weight', weight);
  return { k: kh, cOut };
}

/** Throws a {@link ShapeError} unless `t` is float32. @internal */
export function checkFloat32(subject: string, name: string, t: tf.Tensor): void {
  if (t.dtype !== 'float32') {
    throw new ShapeError(`${subject}: ${name} dtype`, {
      expected: 'float32',
      received: t.dtype,
      fix: `cast with tf.cast(${name}, 'float32')`,
    });
  }
}

/** Checks stride (integer ≥ 1) and padding (integer ≥ 0); returns a copy. @internal */
export function checkGeometry(subject: string, geometry: unknown): ConvolutionGeometry {
  if (typeof geometry !== 'object' || geometry === null) {
    throw new DomainError(`${subject}: geometry`, {
      expected: '{ stride, padding } (integers, in cells)',
      received: describeValue(geometry),
      fix: "pass PyTorch's Conv2d stride and padding, e.g. { stride: 1, padding: 1 }",
    });
  }
  const { stride, padding } = geometry as Partial<ConvolutionGeometry>;
  if (typeof stride !== 'number' || !Number.isInteger(stride) || stride < 1) {
    throw new DomainError(`${subject}: stride`, {
      expected: 'an integer ≥ 1',
      received: describeValue(stride),
      fix: 'the stride counts cells: 1 keeps the grid, s > 1 evaluates on the grid coarser by s',
    });
  }
  if (typeof padding !== 'number' || !Number.isInteger(padding) || padding < 0) {
    throw new DomainError(`${subject}: padding`, {
      expected: 'an integer ≥ 0',
      received: describeValue(padding),
      fix: 'the padding counts zero cells added on each side of the grid',
    });
  }
  return { stride, padding };
}

/** Checks that `u` is a field on a uniform image grid without leading tokens; returns the grid's size. */
function checkImageField(subject: string, u: unknown): { rows: number; cols: number } {
  checkField(subject, u);
  const { rows, cols, leading } = checkPatchGrid(u.tokenGrid, subject);
  if (leading !== 0) {
    throw new DomainError(`${subject}: token grid`, {
      expected: 'an image grid of patch tokens only (no leading tokens)',
      received: `${leading} leading token(s) (a class token) before ${rows}×${cols} patches`,
      fix: "split the class token off first (tokens [0, leading)), convolve the patches and prepend it again, as CvT does (convolutionalMap does it with { leadingTokens: 'pass' })",
    });
  }
  if (u.tokenWeights !== undefined) {
    throw new DomainError(`${subject}: token weights`, {
      expected: "no per-sample token weights (the grid's own weights)",
      received: 'per-sample token weights (padding)',
      fix: 'a convolution moves values between tokens and has no padding mask on its output grid: build the field without tokenWeights',
    });
  }
  return { rows, cols };
}

/** Where the k² kernel taps sit, for one geometry and grid size. */
interface TapPlan {
  readonly k: number;
  readonly stride: number;
  readonly padding: number;
  readonly rows: number;
  readonly cols: number;
  readonly outRows: number;
  readonly outCols: number;
}

/** The output grid `rows' × cols'`, after checking that the kernel fits the padded grid. */
function planTaps(subject: string, k: number, rows: number, cols: number, g: ConvolutionGeometry): TapPlan {
  const { stride, padding } = g;
  if (k > rows + 2 * padding || k > cols + 2 * padding) {
    throw new DomainError(`${subject}: kernel`, {
      expected: `a kernel no larger than the padded grid (k ≤ ${Math.min(rows, cols) + 2 * padding}: ${rows}×${cols} cells plus ${padding} on each side)`,
      received: `k = ${k}`,
      fix: 'use a smaller kernel, more padding, or a larger image',
    });
  }
  const outRows = Math.floor((rows + 2 * padding - k) / stride) + 1;
  const outCols = Math.floor((cols + 2 * padding - k) / stride) + 1;
  return { k, stride, padding, rows, cols, outRows, outCols };
}

/** The convolution's values on its output grid (the input grid itself when the size is kept). */
function onOutputGrid(u: Field, values: tf.Tensor3D, plan: TapPlan, channels: number): Field {
  const same = plan.outRows === plan.rows && plan.outCols === plan.cols;
  return field(values, {
    tokenGrid: same ? u.tokenGrid : imageTokenGrid(plan.outRows, plan.outCols),
    featureGrid: channels === u.features ? u.featureGrid : unitFeatureGrid(channels),
  });
}

/** `tf.conv2d`, with the adjoint below as its gradient where the backend lacks tfjs's backprop kernels. */
function conv2d(x: tf.Tensor4D, w: tf.Tensor4D, plan: TapPlan): tf.Tensor4D {
  const { stride, padding, k } = plan;
  if (stride === k && padding === 0 && plan.rows % k === 0 && plan.cols % k === 0) return cellConv2d(x, w, plan);
  if (hasKernels(CONV2D_GRADIENT_KERNELS)) return tf.conv2d(x, w, stride, padding);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xs, ws, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.GradSaveFunc];
    save([xs, ws]);
    return {
      value: tf.conv2d(xs, ws, stride, padding), // [B, rows', cols', C_out]
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [x0, w0] = saved as [tf.Tensor4D, tf.Tensor4D];
          const [b, , , cIn] = x0.shape;
          const cOut = w0.shape[3];
          const dx = tf.conv2dTranspose(dy as tf.Tensor4D, w0, [b, plan.rows, plan.cols, cIn], stride, padding);
          const patches = tf.reshape(tf.concat(kernelTaps(x0, plan), 3), [-1, plan.k * plan.k * cIn]); // [B·rows'·cols', k²·C_in]
          const dyFlat = tf.reshape(dy, [-1, cOut]); // [B·rows'·cols', C_out]
          const dw = tf.reshape(tf.matMul(patches, dyFlat, true, false), w0.shape); // [k, k, C_in, C_out]
          return [dx, dw];
        }),
    };
  });
  return op(x, w) as tf.Tensor4D;
}

/**
 * The convolution whose kernel tiles the grid (stride = k, no padding; ViT's patch embedding): the cells do not
 * overlap, so it is one product of the gathered cells `[B·rows'·cols', k·k·C_in]` with the flattened kernel
 * `[k·k·C_in, C_out]` — exact, differentiable on every backend, and faster than a general convolution.
 */
function cellConv2d(x: tf.Tensor4D, w: tf.Tensor4D, plan: TapPlan): tf.Tensor4D {
  const { k, outRows, outCols } = plan;
  const [b, , , cIn] = x.shape;
  const cOut = w.shape[3];
  const cells = tf.reshape(x, [b, outRows, k, outCols, k * cIn]); // [B, rows', k, cols', k·C_in]
  const gathered = tf.reshape(tf.transpose(cells, [0, 1, 3, 2, 4]), [b * outRows * outCols, k * k * cIn]); // [B·rows'·cols', k·k·C_in]
  const y = tf.matMul(gathered, tf.reshape(w, [k * k * cIn, cOut])); // [B·rows'·cols', C_out]
  return tf.reshape(y, [b, outRows, outCols, cOut]) as tf.Tensor4D; // [B, rows', cols', C_out]
}

/** `tf.depthwiseConv2d`, with the adjoint below as its gradient where the backend lacks tfjs's backprop kernels. */
function depthwiseConv2d(x: tf.Tensor4D, w: tf.Tensor4D, plan: TapPlan): tf.Tensor4D {
  const { stride, padding, k } = plan;
  if (hasKernels(DEPTHWISE_GRADIENT_KERNELS)) return tf.depthwiseConv2d(x, w, stride, padding);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xs, ws, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.GradSaveFunc];
    save([xs, ws]);
    return {
      value: tf.depthwiseConv2d(xs, ws, stride, padding), // [B, rows', cols', C]
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [x0, w0] = saved as [tf.Tensor4D, tf.Tensor4D];
          const c = x0.shape[3];
          const taps = tf.unstack(tf.reshape(w0, [k * k, c])); // k² × [C]
          const dx = kernelTapsAdjoint(
            taps.map((wab) => tf.mul(dy, wab) as tf.Tensor4D),
            plan,
          ); // [B, rows, cols, C]
          const dw = tf.reshape(tf.stack(kernelTaps(x0, plan).map((t) => tf.sum(tf.mul(t, dy), [0, 1, 2]))), w0.shape); // [k, k, C, 1]
          return [dx, dw];
        }),
    };
  });
  return op(x, w) as tf.Tensor4D;
}

/**
 * The k² kernel taps of the zero-padded image: tap (a, b), in raster order, is `[B, rows', cols', C]` with
 * `tap[b, i', j', c] = x_padded[b, s·i' + a, s·j' + b, c]`, so that a convolution is `Σ_ab tap_ab · w_ab`.
 * For s > 1 the padded image is first split into its s² phases (`spaceToBatchND`), so every tap is a contiguous
 * slice of one phase. Only ops that every backend differentiates (pad, slice, spaceToBatchND, reshape).
 */
function kernelTaps(x: tf.Tensor4D, plan: TapPlan): tf.Tensor4D[] {
  const { k, stride: s, padding: p, rows, cols, outRows, outCols } = plan;
  const [batch, , , c] = x.shape;
  const { phaseRows, phaseCols, height, width } = phaseSizes(plan);
  let xp: tf.Tensor4D = tf.pad(x, [
    [0, 0],
    [p, height - rows - p],
    [p, width - cols - p],
    [0, 0],
  ]); // [B, height, width, C]
  if (height > s * phaseRows || width > s * phaseCols) xp = tf.slice(xp, 0, [batch, s * phaseRows, s * phaseCols, c]);
  if (s > 1)
    xp = tf.spaceToBatchND(
      xp,
      [s, s],
      [
        [0, 0],
        [0, 0],
      ],
    ); // [s²·B, phaseRows, phaseCols, C]
  const phases = tf.reshape(xp, [s * s * batch, phaseRows, phaseCols * c]); // [s²·B, phaseRows, phaseCols·C]
  const taps: tf.Tensor4D[] = [];
  for (let a = 0; a < k; a++) {
    for (let b = 0; b < k; b++) {
      const phase = (a % s) * s + (b % s);
      const tap = tf.slice(
        phases,
        [phase * batch, Math.floor(a / s), Math.floor(b / s) * c],
        [batch, outRows, outCols * c],
      );
      taps.push(tf.reshape(tap, [batch, outRows, outCols, c])); // [B, rows', cols', C]
    }
  }
  return taps;
}

/** The adjoint of {@link kernelTaps}: k² tensors `[B, rows', cols', C]` summed back onto the image `[B, rows, cols, C]`. */
function kernelTapsAdjoint(g: readonly tf.Tensor4D[], plan: TapPlan): tf.Tensor4D {
  const { k, stride: s, padding: p, rows, cols, outRows, outCols } = plan;
  const [batch, , , c] = g[0]!.shape;
  const { phaseRows, phaseCols, height, width } = phaseSizes(plan);
  const phases: tf.Tensor[] = [];
  for (let alpha = 0; alpha < s; alpha++) {
    for (let beta = 0; beta < s; beta++) {
      const terms: tf.Tensor[] = [];
      for (let a = alpha; a < k; a += s) {
        for (let b = beta; b < k; b += s) {
          const [r0, q0] = [Math.floor(a / s), Math.floor(b / s)];
          terms.push(
            tf.pad(tf.reshape(g[a * k + b]!, [batch, outRows, outCols * c]), [
              [0, 0],
              [r0, phaseRows - outRows - r0],
              [q0 * c, (phaseCols - outCols - q0) * c],
            ]),
          ); // [B, phaseRows, phaseCols·C]
        }
      }
      phases.push(
        terms.length === 0
          ? tf.zeros([batch, phaseRows, phaseCols * c])
          : terms.length === 1
            ? terms[0]!
            : tf.addN(terms),
      );
    }
  }
  let xp = tf.reshape(tf.concat(phases, 0), [s * s * batch, phaseRows, phaseCols, c]) as tf.Tensor4D;
  if (s > 1)
    xp = tf.batchToSpaceND(
      xp,
      [s, s],
      [
        [0, 0],
        [0, 0],
      ],
    ); // [B, s·phaseRows, s·phaseCols, C]
  if (height > s * phaseRows || width > s * phaseCols)
    xp = tf.pad(xp, [
      [0, 0],
      [0, height - s * phaseRows],
      [0, width - s * phaseCols],
      [0, 0],
    ]); // [B, height, width, C]
  return tf.slice(xp, [0, p, p, 0], [batch, rows, cols, c]); // [B, rows, cols, C]
}

/**
 * Sizes of the phase split: each of the s² phases has `outRows + ⌊(k − 1)/s⌋` rows (the taps' reach), so the
 * padded image is cut or zero-extended to `s·phaseRows`; `height × width` is the padded image before that cut.
 */
function phaseSizes(plan: TapPlan): { phaseRows: number; phaseCols: number; height: number; width: number } {
  const { k, stride: s, padding: p, rows, cols, outRows, outCols } = plan;
  const reach = Math.floor((k - 1) / s);
  const phaseRows = outRows + reach;
  const phaseCols = outCols + reach;
  return {
    phaseRows,
    phaseCols,
    height: Math.max(s * phaseRows, rows + p),
    width: Math.max(s * phaseCols, cols + p),
  };
}
