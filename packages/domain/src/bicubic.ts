/**
 * Bicubic resampling of a field on an image token grid (paper §6; docs/image-domains.md): a position embedding
 * is a function on Ω_x = [0, 1]², so a checkpoint trained on an `r × c` patch grid runs on an `R × C` grid of the
 * same domain after its patch values are resampled. The rule is torchvision's `interpolate_embeddings`: PyTorch's
 * `F.interpolate(mode='bicubic', align_corners=True)` along each axis (Keys' cubic convolution, a = −0.75), the
 * class position copied, not interpolated.
 *
 * The matrices are float64 on the host; the resampling is two matMuls on the active backend (differentiable).
 */
import { tf, describeValue } from '@tide/backend';
import { DomainError } from './errors.js';
import { Field, checkField } from './field.js';
import { checkPatchGrid, imageLayoutOf, imageTokenGrid } from './image-grid.js';

/** The parameter a of PyTorch's cubic convolution kernel (`upsample_bicubic2d`). */
const CUBIC_A = -0.75;

/** `W(x) = (a + 2)|x|³ − (a + 3)|x|² + 1` for |x| ≤ 1 (PyTorch's `cubic_convolution1`). */
function cubicInner(x: number): number {
  return ((CUBIC_A + 2) * x - (CUBIC_A + 3)) * x * x + 1;
}

/** `W(x) = a|x|³ − 5a|x|² + 8a|x| − 4a` for 1 < |x| < 2 (PyTorch's `cubic_convolution2`). */
function cubicOuter(x: number): number {
  return ((CUBIC_A * x - 5 * CUBIC_A) * x + 8 * CUBIC_A) * x - 4 * CUBIC_A;
}

function checkSize(subject: string, n: unknown): asserts n is number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1)
    throw new DomainError(subject, {
      expected: 'an integer ≥ 1 (a number of patches along one axis)',
      received: describeValue(n),
      fix: 'pass a positive whole number of rows or columns',
    });
}

/**
 * The `[outSize, inSize]` (row-major, float64) matrix of PyTorch's
 * `F.interpolate(mode='bicubic', align_corners=True)` along one axis.
 *
 * Output index o reads the source index `s = o·(in − 1)/(out − 1)` (0 when out = 1), `i = ⌊s⌋`, `t = s − i`, with
 * the four taps `i − 1 … i + 2` clamped to `[0, in − 1]` and weights `W(t + 1), W(t), W(1 − t), W(2 − t)` of Keys'
 * cubic convolution kernel with a = −0.75:
 *
 *     W(x) = (a + 2)|x|³ − (a + 3)|x|² + 1        |x| ≤ 1
 *     W(x) = a|x|³ − 5a|x|² + 8a|x| − 4a          1 < |x| < 2
 *
 * Like PyTorch (`area_pixel_compute_scale` in float32), the scale `(in − 1)/(out − 1)` is rounded to float32 before
 * it is multiplied by o; the rest is float64. Rows sum to 1; equal sizes give the identity exactly. With
 * a = −0.75 rows reproduce constants but not linear functions (docs/image-domains.md).
 */
export function bicubicMatrix(inSize: number, outSize: number): Float64Array {
  checkSize('bicubicMatrix: inSize', inSize);
  checkSize('bicubicMatrix: outSize', outSize);
  const m = new Float64Array(outSize * inSize);
  const scale = outSize > 1 ? Math.fround((inSize - 1) / (outSize - 1)) : 0;
  for (let o = 0; o < outSize; o++) {
    const s = scale * o;
    const i = Math.floor(s);
    const t = s - i;
    const weights = [cubicOuter(t + 1), cubicInner(t), cubicInner(1 - t), cubicOuter(2 - t)];
    for (let k = 0; k < 4; k++) {
      const j = Math.min(Math.max(i - 1 + k, 0), inSize - 1);
      m[o * inSize + j] += weights[k]!;
    }
  }
  return m;
}

/**
 * Resamples a field on an image token grid to a `rows × cols` patch grid of the same domain [0, 1]² (paper §6;
 * docs/image-domains.md). `u` lives on an image token grid (`imageTokenGrid`, or `productGrid` of two midpoint rules
 * of [0, 1]): `leading` extra tokens (0, or 1 class token), then `r × c` patches in raster order at the cell centres
 * (other product grids are refused). The result lives on
 * `imageTokenGrid(rows, cols, { classToken: leading === 1 })` with the same feature grid: the leading tokens are
 * copied, and per sample and feature the patch values `X [r, c]` become `M_r · X · M_cᵀ [rows, cols]` with
 * `M_r = bicubicMatrix(r, rows)`, `M_c = bicubicMatrix(c, cols)` — torchvision's `interpolate_embeddings`, each axis
 * resampled on its own when the grids are not square.
 *
 * Shapes: `[B, leading + r·c, N_y]` → `[B, leading + rows·cols, N_y]`. Returns a new field (one tensor); the input is
 * kept. Padded fields (per-sample token weights) are refused.
 */
export function resampleImageField(u: Field, rows: number, cols: number): Field {
  checkField('resampleImageField', u);
  const layout = imageLayoutOf(u.tokenGrid, 'resampleImageField');
  if (layout.leading !== 0 && layout.leading !== 1)
    throw new DomainError('resampleImageField: leading tokens', {
      expected: 'no leading token or one class token ahead of the patches',
      received: `${layout.leading} leading tokens`,
      fix: 'split off the extra tokens, resample the patches, then put them back',
    });
  checkPatchGrid(u.tokenGrid, 'resampleImageField');
  checkSize('resampleImageField: rows', rows);
  checkSize('resampleImageField: cols', cols);
  if (u.tokenWeights !== undefined)
    throw new DomainError('resampleImageField: field', {
      expected: 'a field without per-sample token weights',
      received: 'a padded field (per-sample tokenWeights)',
      fix: 'resample each sample without its padding, then pad again',
    });
  const { rows: r, cols: c, leading } = layout;

  const target = imageTokenGrid(rows, cols, { classToken: leading === 1 });
  const mr = bicubicMatrix(r, rows);
  const mc = bicubicMatrix(c, cols);
  const values = tf.tidy(() => {
    const [b, , d] = u.values.shape;
    const rowMatrix = tf.tensor2d(Float32Array.from(mr), [rows, r], 'float32'); // [R, r]
    const colMatrix = tf.tensor2d(Float32Array.from(mc), [cols, c], 'float32'); // [C, c]
    const patches = tf.reshape(tf.slice(u.values, [0, leading, 0], [b, r * c, d]), [b, r, c, d]); // [B, r, c, d]
    // Along the columns: X · M_cᵀ.
    const byCol = tf.reshape(tf.transpose(patches, [0, 1, 3, 2]), [b * r * d, c]); // [B·r·d, c]
    const colsDone = tf.reshape(tf.matMul(byCol, colMatrix, false, true), [b, r, d, cols]); // [B, r, d, C]
    // Along the rows: M_r · (X M_cᵀ).
    const byRow = tf.reshape(tf.transpose(colsDone, [1, 0, 2, 3]), [r, b * d * cols]); // [r, B·d·C]
    const rowsDone = tf.reshape(tf.matMul(rowMatrix, byRow), [rows, b, d, cols]); // [R, B, d, C]
    const resampled = tf.reshape(tf.transpose(rowsDone, [1, 0, 3, 2]), [b, rows * cols, d]); // [B, R·C, d]
    if (leading === 0) return resampled as tf.Tensor3D;
    const kept = tf.slice(u.values, [0, 0, 0], [b, leading, d]); // [B, 1, d]: the class token
    return tf.concat([kept, resampled], 1) as tf.Tensor3D; // [B, 1 + R·C, d]
  });
  return Field.unchecked(values, target, u.featureGrid);
}
