/**
 * The image part of the study (docs/image-models.md): a trained image classifier on held-out pictures of the
 * shapes task at the resolution it was trained at and at other resolutions (a finer grid of the same Ω_x, the
 * position embedding resampled), and the attention kernels of a query patch as images on the 2-D patch grid.
 * Browser-safe (no Node modules): the CLI's report and the playground can both call it.
 */
import { tf } from '@tide/backend';
import type { ImageKernelPanel, ImageStudy, PicturePanel } from './charts.js';
import {
  ImageInputError,
  SHAPE_CLASSES,
  SHAPE_PIXEL_MEAN,
  SHAPE_PIXEL_STD,
  imageAttentionKernels,
  predictClasses,
  shapesBatch,
  type VisionModel,
} from '@tide/vision';

/** The data set of held-out pictures (the training pictures are drawn from seed 1). */
export const HELD_OUT_SEED = 2;

/**
 * Refuses a model the shapes study cannot score: it needs a ViT (one patch grid, square pictures) with
 * `num_channels` 3 and a head over the {@link SHAPE_CLASSES}.
 *
 * @throws ImageInputError naming what was expected and what the model is
 */
export function checkShapesModel(model: VisionModel): void {
  const c = model.config;
  const square = c.imageSize !== undefined && c.imageSize[0] === c.imageSize[1];
  const fits =
    c.vit !== undefined &&
    square &&
    c.channels === 3 &&
    c.classes === SHAPE_CLASSES.length &&
    model.parameters.head !== undefined;
  if (!fits)
    throw new ImageInputError(`${model.source}: the image model`, {
      expected: `a ViT on square 3-channel pictures with a ${SHAPE_CLASSES.length}-class head (${SHAPE_CLASSES.join(', ')}), as tide train-vision writes`,
      received: `${c.layout}${c.imageSize ? ` at ${c.imageSize.join(' × ')}` : ''}, ${c.channels} channel(s), ${model.parameters.head === undefined ? 'no head' : `${c.classes} classes`}`,
      fix: 'pass --image-model a folder written by tide train-vision (or leave it out for the embedded shapes ViT)',
    });
}

/** Accuracy of `model` on `count` held-out pictures rendered at `size × size`, in batches of `batch`. */
export function shapesAccuracy(
  model: VisionModel,
  size: number,
  options: { readonly count?: number; readonly batch?: number; readonly seed?: number } = {},
): { accuracy: number; correct: number; count: number; perClass: number[] } {
  const count = options.count ?? 400;
  const batch = options.batch ?? 50;
  let correct = 0;
  const right = new Array<number>(SHAPE_CLASSES.length).fill(0);
  const seen = new Array<number>(SHAPE_CLASSES.length).fill(0);
  for (let start = 0; start < count; start += batch) {
    const b = shapesBatch({
      seed: options.seed ?? HELD_OUT_SEED,
      start,
      count: Math.min(batch, count - start),
      height: size,
      width: size,
    });
    const pixels = tf.tensor4d(b.pixels, b.shape); // [B, 3, size, size]
    let predicted: Int32Array;
    try {
      predicted = predictClasses(model, pixels);
    } finally {
      pixels.dispose();
    }
    predicted.forEach((p, i) => {
      const label = b.labels[i]!;
      seen[label]!++;
      if (p === label) {
        correct++;
        right[label]!++;
      }
    });
  }
  return { accuracy: correct / count, correct, count, perClass: right.map((r, i) => r / Math.max(1, seen[i]!)) };
}

function hex(v: number): string {
  const x = Math.round(Math.min(1, Math.max(0, v)) * 255);
  return x.toString(16).padStart(2, '0');
}

/**
 * The image study: accuracy at the trained size and at each of `sizes`, and the kernels of the centre patch of
 * held-out picture `picture` at the trained size and the largest other size.
 */
export function runImageStudy(
  model: VisionModel,
  options: { readonly sizes?: readonly number[]; readonly count?: number; readonly picture?: number } = {},
): ImageStudy {
  checkShapesModel(model);
  const trained = model.config.imageSize![0];
  const patch = model.config.vit!.patch;
  const sizes = options.sizes ?? [trained, Math.round((trained * 1.5) / patch) * patch];
  const accuracies = sizes.map((size) => {
    const r = shapesAccuracy(model, size, { count: options.count ?? 400 });
    const note =
      size === trained
        ? 'trained resolution'
        : `${(size / trained).toFixed(2)}×, position embedding resampled bicubically`;
    return { size, accuracy: r.accuracy, note, perClass: r.perClass, count: r.count };
  });
  const table = [
    `held-out pictures of the shapes task (${SHAPE_CLASSES.join(', ')}; data set seed ${HELD_OUT_SEED}, never trained on):`,
    ...accuracies.map(
      (a) =>
        `  ${a.size} × ${a.size} (${a.size / patch} × ${a.size / patch} patches): accuracy ${(100 * a.accuracy).toFixed(1)}% of ${a.count}  [${a.perClass.map((p, i) => `${SHAPE_CLASSES[i]} ${(100 * p).toFixed(0)}%`).join(', ')}]  ${a.note}`,
    ),
  ];
  const index = options.picture ?? 0;
  const kernels: ImageKernelPanel[] = [];
  const pictures: PicturePanel[] = [];
  for (const size of [sizes[0]!, sizes[sizes.length - 1]!]) {
    if (pictures.some((p) => p.resolution === `${size}×${size}`)) continue;
    const b = shapesBatch({ seed: HELD_OUT_SEED, start: index, count: 1, height: size, width: size });
    const pixels = tf.tensor4d(b.pixels, b.shape); // [1, 3, size, size]
    let k;
    try {
      const g = size / patch;
      k = imageAttentionKernels(model, pixels, [Math.floor(g / 2), Math.floor(g / 2)]);
    } finally {
      pixels.dispose();
    }
    const resolution = `${size}×${size}`;
    for (const kernel of k.kernels)
      kernels.push({
        resolution,
        layer: kernel.layer,
        head: kernel.head,
        rows: k.rows,
        cols: k.cols,
        query: k.query,
        gamma: Array.from({ length: k.rows }, (_, r) =>
          Array.from(kernel.gamma.subarray(r * k.cols, (r + 1) * k.cols)),
        ),
      });
    const px = b.pixels;
    const plane = size * size;
    pictures.push({
      resolution,
      label: SHAPE_CLASSES[b.labels[0]!]!,
      rgb: Array.from({ length: size }, (_, r) =>
        Array.from({ length: size }, (_, c) => {
          const at = (ch: number) => px[ch * plane + r * size + c]! * SHAPE_PIXEL_STD + SHAPE_PIXEL_MEAN;
          return `#${hex(at(0))}${hex(at(1))}${hex(at(2))}`;
        }),
      ),
    });
  }
  return {
    table,
    accuracies: accuracies.map(({ size, accuracy, note }) => ({ size, accuracy, note })),
    kernels,
    pictures,
  };
}
