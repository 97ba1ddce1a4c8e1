/**
 * CvT's convolutional projection `dw_bn` (paper §6; docs/convolutional-kernels.md): a depthwise convolution (a local
 * operator, diagonal in y) followed by BatchNorm in eval mode (a per-feature affine sub-step). It maps the image
 * field to the tokens that the attention's feature-integral transforms W^Q, W^K, W^V then act on; with a stride it
 * puts keys and values on a coarser grid of the same Ω_x.
 */
import { describeValue, tf } from '@tide/backend';
import {
  DomainError,
  ShapeError,
  checkField,
  field,
  imageLayoutOf,
  imageTokenGrid,
  type Field,
  type TokenMap,
} from '@tide/domain';
import { batchNormAffineOf, checkBatchNorm, type BatchNormParameters } from './batch-norm.js';
import {
  checkDepthwiseKernel,
  checkGeometry,
  depthwiseConvolutionOf,
  type ConvolutionGeometry,
} from './convolution.js';

/** `(u: Field) => Field`, @tide/domain's type of a map that may change the token grid (a Q/K/V token map). */
export type { TokenMap };

/** The parameters of a `dw_bn` projection. Held, not owned. */
export interface ConvolutionalMapParameters {
  /** The depthwise kernel `[C, 1, k, k]` (PyTorch's `Conv2d(C, C, k, groups=C, bias=False).weight`). */
  readonly weight: tf.Tensor4D;
  /** The BatchNorm2d that follows it (eval mode). */
  readonly norm: BatchNormParameters;
}

/**
 * CvT's `dw_bn` projection as a {@link TokenMap}: `u ↦ BN(depthwise_k(u))`, i.e.
 * `v(x', c) = a(c)·Σ_{a,b} weight[c, 0, a, b]·u(x_{s·i' − p + a, s·j' − p + b}, c) + b(c)` with the BatchNorm's
 * `a = weight/√(variance + ε)`, `b = bias − mean·a`. The map takes `[B, rows·cols, C]` on an image grid without
 * leading tokens (split a class token off first) to `[B, rows'·cols', C]` on `imageTokenGrid(rows', cols')`,
 * `rows' = ⌊(rows + 2p − k)/s⌋ + 1`. The parameters and geometry are checked here, the field at each call;
 * `label` names the map in errors (e.g. `'query projection'`). Differentiable on every backend; each call
 * returns a new field that the caller owns.
 *
 * With `options.leadingTokens: 'pass'`, a field whose grid has a leading class point (`imageTokenGrid(…, {
 * classToken: true })`) is taken too: the class token is not a cell of the image, so it passes through unchanged
 * and is put back ahead of the convolved patches, on the output grid with its class point (CvT's class token,
 * which skips the convolutional projections).
 */
export function convolutionalMap(
  params: ConvolutionalMapParameters,
  geometry: ConvolutionGeometry,
  label = 'convolutionalMap',
  options: ConvolutionalMapOptions = {},
): TokenMap {
  if (typeof label !== 'string' || label === '') {
    throw new DomainError('convolutionalMap: label', {
      expected: 'a non-empty string',
      received: describeValue(label),
      fix: "name the map, e.g. 'query projection', or leave the default",
    });
  }
  if (typeof params !== 'object' || params === null) {
    throw new ShapeError(`${label}: params`, {
      expected: '{ weight: [C, 1, k, k], norm: { mean, variance, weight, bias, epsilon } }',
      received: describeValue(params),
      fix: "pass the depthwise Conv2d's weight and its BatchNorm2d",
    });
  }
  const { weight, norm } = params;
  checkDepthwiseKernel(label, weight);
  checkBatchNorm(label, norm, weight.shape[0], 'channel of the kernel');
  const fixed = checkGeometry(label, geometry); // a copy: later edits of the caller's object do not reach the map
  const leadingTokens = options?.leadingTokens ?? 'refuse';
  if (leadingTokens !== 'refuse' && leadingTokens !== 'pass') {
    throw new DomainError(`${label}: options.leadingTokens`, {
      expected: "'refuse' (the default) or 'pass'",
      received: describeValue(leadingTokens),
      fix: "pass { leadingTokens: 'pass' } to let a class token through unconvolved",
    });
  }
  const onPatches = (u: Field): Field => {
    const conv = depthwiseConvolutionOf(label, u, weight, fixed);
    try {
      return batchNormAffineOf(label, conv, norm);
    } finally {
      conv.dispose();
    }
  };
  if (leadingTokens === 'refuse') return onPatches;
  return (u: Field) => {
    checkField(label, u);
    const layout = imageLayoutOf(u.tokenGrid, label);
    if (layout.leading === 0) return onPatches(u);
    if (layout.leading !== 1) {
      throw new DomainError(`${label}: token grid`, {
        expected: 'at most one leading token (a class point) before the patches',
        received: `${layout.leading} leading tokens`,
        fix: 'split the extra tokens off before the map',
      });
    }
    let grid = u.tokenGrid;
    const values = tf.tidy(() => {
      const [b, n, d] = u.values.shape;
      const cls = tf.slice(u.values, [0, 0, 0], [b, 1, d]); // [B, 1, d]
      const patches = field(tf.slice(u.values, [0, 1, 0], [b, n - 1, d]) as tf.Tensor3D, {
        tokenGrid: imageTokenGrid(layout.rows, layout.cols),
        featureGrid: u.featureGrid,
      }); // [B, rows·cols, d]
      const out = onPatches(patches); // [B, rows'·cols', d]
      const o = imageLayoutOf(out.tokenGrid, label);
      grid = imageTokenGrid(o.rows, o.cols, { classToken: true });
      return tf.concat([cls, out.values], 1) as tf.Tensor3D; // [B, 1 + rows'·cols', d]
    });
    return field(values, { tokenGrid: grid, featureGrid: u.featureGrid });
  };
}

/** Options of {@link convolutionalMap}. */
export interface ConvolutionalMapOptions {
  /**
   * What to do with leading tokens (a class point) before the patches: `'refuse'` (default: a DomainError) or
   * `'pass'` (they pass through unconvolved).
   */
  readonly leadingTokens?: 'refuse' | 'pass';
}
