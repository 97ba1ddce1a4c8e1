/**
 * Patch lifting (paper §6; docs/image-models.md): the image is a function on Ω_x = [0, 1]² with C channels;
 * the patch embedding lifts it onto the feature domain by a local integral with patch support,
 *
 *     f(x_ij, y) = Σ_c ∫_{cell_ij} k_c(x − x_ij, y) I_c(x) dx + b(y),
 *
 * discretised on the pixels of each patch cell (the cell area folded into the kernel): exactly PyTorch's
 * `Conv2d(C, d, kernel_size = p, stride = p)` (weight `[d, C, p, p]`), evaluated as one product of the gathered
 * patches with the flattened kernel, so it is differentiable on every backend. The result is a field on the
 * `H/p × W/p` patch grid (`imageTokenGrid`, raster order).
 */
import { describeValue, tf } from '@tide/backend';
import { ShapeError, type Field } from '@tide/domain';
import { convolution, imageField } from '@tide/feedforward';
import { ImageInputError } from './errors.js';
import type { ConvolutionParameters } from './model.js';

/**
 * Checks pixels `[B, C, H, W]` (float32, finite, C = `channels`, H and W multiples of `multiple`); `source`
 * names them in errors.
 *
 * @throws ImageInputError naming what was expected, what arrived and the fix
 */
export function checkPixels(pixels: tf.Tensor, channels: number, multiple: number, source = 'pixel_values'): void {
  if (!(pixels instanceof tf.Tensor) || pixels.rank !== 4)
    throw new ImageInputError(source, {
      expected: `images [B, ${channels}, H, W] (float32)`,
      received: pixels instanceof tf.Tensor ? `shape [${pixels.shape.join(', ')}]` : describeValue(pixels),
      fix: 'pass pixel_values as a 4-D tensor, channels first (PyTorch layout)',
    });
  const [b, c, h, w] = pixels.shape as [number, number, number, number];
  if (b < 1 || h < 1 || w < 1)
    throw new ImageInputError(source, {
      expected: 'at least one image with H, W ≥ 1',
      received: `shape [${pixels.shape.join(', ')}]`,
      fix: 'pass a non-empty batch',
    });
  if (c !== channels)
    throw new ImageInputError(`${source}: channels`, {
      expected: `${channels} channels (the model's num_channels), shape [B, ${channels}, H, W]`,
      received: `${c} (shape [${pixels.shape.join(', ')}])`,
      fix:
        c === h || c === w
          ? 'the images look channels-last: transpose them to [B, C, H, W]'
          : "convert the images to the model's channels",
    });
  if (h % multiple !== 0 || w % multiple !== 0)
    throw new ImageInputError(`${source}: size`, {
      expected: `H and W multiples of the patch size ${multiple}`,
      received: `${h} × ${w}`,
      fix: `resize or crop the images to a multiple of ${multiple} (e.g. ${Math.max(1, Math.round(h / multiple)) * multiple} × ${Math.max(1, Math.round(w / multiple)) * multiple})`,
    });
  if (pixels.dtype !== 'float32')
    throw new ImageInputError(source, {
      expected: 'float32',
      received: pixels.dtype,
      fix: 'cast the pixels to float32',
    });
  const finite = tf.tidy(() => tf.all(tf.isFinite(pixels)).dataSync()[0]);
  if (!finite)
    throw new ImageInputError(source, {
      expected: 'finite pixel values',
      received: 'NaN or ±Inf',
      fix: 'clean the images (normalised pixel values are finite)',
    });
}

/**
 * The patch lifting of `pixels` `[B, C, H, W]` with `lift.weight` `[d, C, p, p]` and `lift.bias` `[d]`: a new
 * field `[B, (H/p)·(W/p), d]` on `imageTokenGrid(H/p, W/p)` — the convolution of `@tide/feedforward` whose kernel
 * tiles the image (stride = p, no padding). The pixels are checked ({@link checkPixels}); the result is the only
 * surviving tensor.
 *
 * @throws ImageInputError for pixels that do not fit the lifting; ShapeError for a lifting that is not `[d, C, p, p]`
 */
export function liftPatches(pixels: tf.Tensor4D, lift: ConvolutionParameters, source = 'pixel_values'): Field {
  const weight = lift?.weight;
  if (!(weight instanceof tf.Tensor) || weight.rank !== 4 || weight.shape[2] !== weight.shape[3])
    throw new ShapeError('liftPatches: lift.weight', {
      expected: 'a square patch kernel [d, C, p, p] (PyTorch Conv2d layout)',
      received: describeValue(weight),
      fix: "pass the checkpoint's conv_proj / patch_embeddings.projection weight",
    });
  const [, channels, p] = weight.shape as [number, number, number, number];
  checkPixels(pixels, channels, p, source);
  const image = imageField(pixels); // [B, H·W, C]
  try {
    return convolution(image, weight, lift.bias, { stride: p, padding: 0 }); // [B, (H/p)·(W/p), d]
  } finally {
    image.dispose();
  }
}
