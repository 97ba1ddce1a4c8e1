/**
 * Looking inside an image model (paper §3, §6; docs/image-models.md): the predicted classes, and the attention
 * kernel γ(x, ·) of a query patch x at every layer and head of a ViT, as a density on the 2-D patch grid — the
 * discrete weights divided by the key quadrature weights, `γ(x_k, x̃_l) = α_kl / w_l`, so that
 * `Σ_l w_l γ(x_k, x̃_l) = 1` over the patches and the class point.
 */
import { describeValue, tf } from '@tide/backend';
import { attentionWeights } from '@tide/attention';
import { field, imageLayoutOf } from '@tide/domain';
import { AffineStep, LayerNormConstraint } from '@tide/normalization';
import { ImageInputError } from './errors.js';
import { visionForward, type VisionForwardOptions } from './forward.js';
import type { VisionModel } from './model.js';

/** The most likely class of each image of `pixels` `[B, C, H, W]`: `[B]`. */
export function predictClasses(
  model: VisionModel,
  pixels: tf.Tensor4D,
  options: VisionForwardOptions = {},
): Int32Array {
  const r = visionForward(model, pixels, options);
  try {
    if (r.logits === undefined)
      throw new ImageInputError(`${model.source}: head`, {
        expected: 'a model with a classification head',
        received: 'no head (the checkpoint has no classifier weights)',
        fix: 'use a checkpoint with heads.head.* / classifier.*',
      });
    const classes = tf.tidy(() => tf.argMax(r.logits!, 1));
    const out = classes.dataSync() as Int32Array;
    classes.dispose();
    return Int32Array.from(out);
  } finally {
    tf.dispose([r.output, ...(r.logits ? [r.logits] : []), ...r.states.map((s) => s.values)]);
  }
}

/** The kernel of a query patch at one layer and head, on the patch grid. */
export interface ImageKernel {
  readonly layer: number;
  readonly head: number;
  /** γ(x, x̃) at the patches, raster order `[rows·cols]`. */
  readonly gamma: Float32Array;
  /** The weight α the query puts on the class token. */
  readonly classWeight: number;
}

/** Kernels of a query patch, with the grid they live on. */
export interface ImageKernels {
  readonly rows: number;
  readonly cols: number;
  readonly query: readonly [number, number];
  readonly kernels: readonly ImageKernel[];
}

/**
 * The attention kernels of the patch at `query` = `[row, col]` in the first image of `pixels` `[B, C, H, W]`, at
 * every layer (evaluated at the layer's own state u(i), after its projection P₁ and affine map) and head. ViT only.
 */
export function imageAttentionKernels(
  model: VisionModel,
  pixels: tf.Tensor4D,
  query: readonly [number, number],
  options: VisionForwardOptions = {},
): ImageKernels {
  const v = model.config.vit;
  if (v === undefined)
    throw new ImageInputError(`${model.source}: imageAttentionKernels`, {
      expected: 'a ViT (one token grid)',
      received: 'a CvT (keys on their own grids per stage)',
      fix: 'inspect a ViT, or use mappedAttentionWeights of @tide/attention on a CvT stage',
    });
  const r = visionForward(model, pixels, { ...options, saveLayers: true });
  try {
    const layout = imageLayoutOf(r.states[0]!.tokenGrid, 'imageAttentionKernels');
    const [row, col] = query ?? [];
    if (
      !Number.isInteger(row) ||
      !Number.isInteger(col) ||
      row! < 0 ||
      col! < 0 ||
      row! >= layout.rows ||
      col! >= layout.cols
    )
      throw new ImageInputError('imageAttentionKernels: query', {
        expected: `[row, col] of a patch of the ${layout.rows} × ${layout.cols} grid`,
        received: describeValue(query),
        fix: `pass e.g. [${Math.floor(layout.rows / 2)}, ${Math.floor(layout.cols / 2)}]`,
      });
    const n = layout.rows * layout.cols;
    const q = 1 + row! * layout.cols + col!;
    const kernels: ImageKernel[] = [];
    model.parameters.layers!.forEach((layer, i) => {
      const alpha = tf.tidy(() => {
        const norm = new LayerNormConstraint({ epsilon: model.config.epsilon });
        const affine = new AffineStep(layer.norm1.gamma, layer.norm1.beta);
        const u = r.states[i]!;
        const first = field(tf.slice(u.values, [0, 0, 0], [1, -1, -1]) as tf.Tensor3D, { tokenGrid: u.tokenGrid }); // [1, 1 + P, d]
        const w = attentionWeights(affine.apply(norm.project(first, i), i), layer.attention, { heads: v.heads }); // [1, H, N, N]
        return tf.reshape(tf.slice(w, [0, 0, q, 0], [1, v.heads, 1, n + 1]), [v.heads, n + 1]); // [H, 1 + P]
      });
      const a = alpha.dataSync() as Float32Array;
      alpha.dispose();
      for (let h = 0; h < v.heads; h++) {
        const row0 = a.subarray(h * (n + 1), (h + 1) * (n + 1));
        kernels.push({
          layer: i,
          head: h,
          gamma: Float32Array.from(row0.subarray(1), (x) => x * n),
          classWeight: row0[0]!,
        });
      }
    });
    return { rows: layout.rows, cols: layout.cols, query: [row!, col!], kernels };
  } finally {
    tf.dispose([r.output, ...(r.logits ? [r.logits] : []), ...r.states.map((s) => s.values)]);
  }
}
