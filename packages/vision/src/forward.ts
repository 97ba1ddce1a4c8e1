/**
 * The forward map of an image model as the time discretisation of the integro-differential equation on a 2-D
 * token domain (paper §6; docs/image-models.md).
 *
 * - ViT: lift the patches (`liftPatches`), put the class token at its extra quadrature point, add the position
 *   embedding resampled to the image's patch grid (`positionsOn`), solve the pre-LN ODE over [0, L], project
 *   (final LayerNorm) — `output` `[B, 1 + P, d]` — and read the class token through the head (`logits`).
 * - CvT: per stage, a coarsening of the token grid with a lift to the stage's wider feature domain (the
 *   strided convolutional embedding) and a LayerNorm projection, the stage's class token if it has one, and a
 *   solve over the stage's layers; `output` is the last stage's patch tokens `[B, H_s·W_s, C_s]` (class token
 *   excluded, before the final LayerNorm) and `logits = head(mean over tokens of LN(class token, or of all tokens))`.
 */
import { tf } from '@tide/backend';
import { field, imageLayoutOf, imageTokenGrid, type Field } from '@tide/domain';
import { convolution, imageField } from '@tide/feedforward';
import { AffineStep, LayerNormConstraint } from '@tide/normalization';
import type { SolverStatistics } from '@tide/solvers';
import {
  checkVisionDiscretisation,
  describeVisionDiscretisation,
  solveLayers,
  type VisionDiscretisationOptions,
} from './discretisation.js';
import { visionLayerRates } from './layer-rates.js';
import { checkPixels, liftPatches } from './patch-lifting.js';
import { positionsOn } from './positions.js';
import { stageGrids } from './stage-grids.js';
import { ImageInputError } from './errors.js';
import type { AffineParameters, VisionModel } from './model.js';

/** Options of {@link visionForward}. */
export interface VisionForwardOptions extends VisionDiscretisationOptions {
  /** ViT: keep the states at t = 0, 1, …, L (on the patch grid with its class point) in `states`. */
  readonly saveLayers?: boolean;
  /** What to call the pixels in errors (default `pixel_values`). */
  readonly source?: string;
}

/** The result of a forward run. The caller owns `output`, `logits` and `states`. */
export interface VisionForwardResult {
  /** ViT: `[B, 1 + P, d]` after the final LayerNorm; CvT: the last stage's patch tokens `[B, P_s, C_s]`. */
  readonly output: tf.Tensor3D;
  /** `[B, K]` when the model has a head. */
  readonly logits?: tf.Tensor2D;
  /** With `saveLayers` (ViT): the states at the layer boundaries. */
  readonly states: readonly Field[];
  /** Evaluations and steps, summed over stages. */
  readonly stats: SolverStatistics;
  readonly description: string;
}

/** γ·P^ε(u) + β per token: `[B, N, d]` (a new tensor). */
function projected(u: Field, norm: AffineParameters, epsilon: number, label: string): tf.Tensor3D {
  const projection = new LayerNormConstraint({ epsilon }, `${label} projection`);
  const affine = new AffineStep(norm.gamma, norm.beta, `${label} affine`);
  return tf.tidy(() => affine.apply(projection.project(u, 0), 0).values as tf.Tensor3D);
}

function head(model: VisionModel, pooled: tf.Tensor2D): tf.Tensor2D | undefined {
  const h = model.parameters.head;
  return h === undefined ? undefined : tf.tidy(() => tf.add(tf.matMul(pooled, h.weight), h.bias) as tf.Tensor2D);
}

function sumStats(a: SolverStatistics | undefined, b: SolverStatistics): SolverStatistics {
  if (a === undefined) return b;
  const out: Record<string, unknown> = { ...b };
  for (const [k, v] of Object.entries(b)) {
    const prev = (a as unknown as Record<string, unknown>)[k];
    if (typeof v === 'number' && typeof prev === 'number') out[k] = prev + v;
  }
  return out as unknown as SolverStatistics;
}

/** The ViT's initial field: class token, lifted patches, plus the resampled position embedding. */
export function vitInitialField(model: VisionModel, pixels: tf.Tensor4D, source = 'pixel_values'): Field {
  const cfg = model.config;
  if (cfg.vit === undefined)
    throw new ImageInputError(`${model.source}: vitInitialField`, {
      expected: 'a ViT',
      received: cfg.layout,
      fix: 'a CvT has no single initial field: use visionForward',
    });
  checkPixels(pixels, cfg.channels, cfg.vit.patch, source);
  const v = cfg.vit!;
  const p = model.parameters;
  const [b, , h, w] = pixels.shape;
  const rows = h / v.patch;
  const cols = w / v.patch;
  const grid: [number, number] = [cfg.imageSize![0] / v.patch, cfg.imageSize![1] / v.patch];
  const values = tf.tidy(() => {
    const lifted = liftPatches(pixels, p.lift!); // [B, P, d] (checks the pixels)
    const cls = tf.tile(p.classToken!, [b, 1, 1]); // [B, 1, d]
    const positions = positionsOn(p.positions!, grid, rows, cols); // [1, 1 + P, d]
    return tf.add(tf.concat([cls, lifted.values], 1), positions) as tf.Tensor3D; // [B, 1 + P, d]
  });
  return field(values, { tokenGrid: imageTokenGrid(rows, cols, { classToken: true }) });
}

function vitForward(model: VisionModel, pixels: tf.Tensor4D, options: VisionForwardOptions): VisionForwardResult {
  const cfg = model.config;
  const v = cfg.vit!;
  const d = checkVisionDiscretisation(options);
  checkPixels(pixels, cfg.channels, v.patch, options.source);
  const rates = model.parameters.layers!.map((l, i) =>
    visionLayerRates(l, { heads: v.heads, epsilon: cfg.epsilon }, `${i}`),
  );
  const u0 = vitInitialField(model, pixels, options.source);
  let sol;
  try {
    sol = solveLayers(u0, rates, d, options.saveLayers ?? false);
  } finally {
    u0.dispose();
  }
  try {
    const output = projected(sol.u, model.parameters.finalNorm, cfg.epsilon, 'final norm'); // [B, 1 + P, d]
    const [b, , width] = output.shape;
    const cls = tf.tidy(() => tf.reshape(tf.slice(output, [0, 0, 0], [b, 1, width]), [b, width]) as tf.Tensor2D); // [B, d]
    const logits = head(model, cls);
    cls.dispose();
    const layout = imageLayoutOf(sol.u.tokenGrid, 'vit');
    return {
      output,
      ...(logits !== undefined && { logits }),
      states: sol.states,
      stats: sol.stats,
      description: `ViT on a ${layout.rows} × ${layout.cols} patch grid + class point, ${describeVisionDiscretisation(d)}`,
    };
  } finally {
    sol.u.dispose();
  }
}

function cvtForward(model: VisionModel, pixels: tf.Tensor4D, options: VisionForwardOptions): VisionForwardResult {
  const cfg = model.config;
  const d = checkVisionDiscretisation(options);
  checkPixels(pixels, cfg.channels, 1, options.source);
  const stages = cfg.stages!;
  stageGrids(stages, pixels.shape[2], pixels.shape[3], options.source); // every stage's kernels fit, or a typed error
  const stageRates = stages.map((stage, s) =>
    model.parameters.stages![s]!.layers.map((l, i) =>
      visionLayerRates(l, { heads: stage.heads, epsilon: cfg.epsilon, stage }, `${s}.${i}`),
    ),
  ); // built before any tensor, so a bad parameter leaks nothing
  let current: Field = imageField(pixels); // [B, H·W, C]
  let cls: tf.Tensor3D | undefined;
  let stats: SolverStatistics | undefined;
  const grids: string[] = [];
  try {
    stages.forEach((stage, s) => {
      const sp = model.parameters.stages![s]!;
      const lifted = convolution(current, sp.lift.weight, sp.lift.bias, stage.patch); // [B, r·c, C_s]
      current.dispose();
      current = lifted;
      const normed = projected(lifted, sp.liftNorm, cfg.epsilon, `stage ${s} embedding norm`); // [B, r·c, C_s]
      const layout = imageLayoutOf(lifted.tokenGrid, `stage ${s}`);
      grids.push(`${layout.rows}×${layout.cols}`);
      const u0 =
        sp.classToken === undefined
          ? field(normed, { tokenGrid: lifted.tokenGrid })
          : field(
              tf.tidy(() => tf.concat([tf.tile(sp.classToken!, [normed.shape[0], 1, 1]), normed], 1) as tf.Tensor3D),
              { tokenGrid: imageTokenGrid(layout.rows, layout.cols, { classToken: true }) },
            ); // [B, (1 +) r·c, C_s]
      if (u0.values !== normed) normed.dispose();
      const rates = stageRates[s]!;
      let sol;
      try {
        sol = solveLayers(u0, rates, d);
      } finally {
        u0.dispose();
      }
      stats = sumStats(stats, sol.stats);
      const [b, n, c] = sol.u.values.shape;
      if (sp.classToken === undefined) {
        current.dispose();
        current = sol.u;
      } else {
        cls?.dispose();
        cls = tf.slice(sol.u.values, [0, 0, 0], [b, 1, c]);
        const patches = tf.slice(sol.u.values, [0, 1, 0], [b, n - 1, c]) as tf.Tensor3D;
        sol.u.dispose();
        current.dispose();
        current = field(patches, { tokenGrid: imageTokenGrid(layout.rows, layout.cols) });
      }
    });
    const output = tf.clone(current.values); // [B, P_s, C_s]
    const pooledSource = cls === undefined ? current : field(cls, { tokenGrid: imageTokenGrid(1, 1) });
    const normed = projected(pooledSource, model.parameters.finalNorm, cfg.epsilon, 'final norm'); // [B, 1|P_s, C_s]
    const pooled = tf.tidy(() => tf.mean(normed, 1) as tf.Tensor2D); // [B, C_s]
    normed.dispose();
    const logits = head(model, pooled);
    pooled.dispose();
    return {
      output,
      ...(logits !== undefined && { logits }),
      states: [],
      stats: stats!,
      description: `CvT, ${stages.length} stage(s) on ${grids.join(' → ')} token grids, ${describeVisionDiscretisation(d)}`,
    };
  } finally {
    current.dispose();
    cls?.dispose();
  }
}

/**
 * Runs an image model on `pixels` `[B, C, H, W]` (float32; PyTorch's layout) at any resolution the model can
 * take (ViT: H, W multiples of the patch; the position embedding is resampled to the patch grid).
 *
 * @throws ImageInputError for pixels that do not fit; VisionDiscretisationError for bad options
 */
export function visionForward(
  model: VisionModel,
  pixels: tf.Tensor4D,
  options: VisionForwardOptions = {},
): VisionForwardResult {
  return model.config.layout === 'hf-cvt' ? cvtForward(model, pixels, options) : vitForward(model, pixels, options);
}
