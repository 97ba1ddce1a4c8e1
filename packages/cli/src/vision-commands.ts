/**
 * The CLI's image-model commands (docs/image-models.md, docs/checkpoints.md "Image models"): `tide forward` on a
 * torchvision ViT, HF ViT or HF CvT folder reads `pixel_values` `[B, C, H, W]` and writes `output` and `logits`;
 * `tide inspect` describes the token domains, stages and grids. Which commands take image models is decided by
 * the folder's config.json ({@link isVisionFolder}).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { flattenTree, tf } from '@tide/backend';
import { CheckpointError, type TensorToWrite } from '@tide/formats';
import { readJsonFile, readSafetensorsFile } from '@tide/formats/node';
import {
  SHAPE_CLASSES,
  VisionDiscretisationError,
  isVisionConfig,
  shapesBatch,
  stageGrids,
  visionForward,
  type VisionModel,
  type VisionSchemeName,
} from '@tide/vision';
import { loadVisionCheckpoint, saveVisionCheckpoint } from '@tide/vision/node';
import { writeForwardOutput } from './forward-output.js';
import { runImageStudy } from './image-study.js';
import type { CliIO } from './cli.js';

/** Whether `dir/config.json` describes an image model (a missing or unreadable config is the text path's to report). */
export function isVisionFolder(dir: string): boolean {
  const file = join(dir, 'config.json');
  if (!existsSync(file)) return false;
  try {
    return isVisionConfig(readJsonFile(file));
  } catch {
    return false;
  }
}

/** The discretisation flags an image model takes: scheme and steps (θ(t) is per layer; no tolerance yet). */
function visionDiscretisation(
  flags: { scheme?: string; stepsPerLayer?: number; schedule?: string; rtol?: number; atol?: number },
  model: VisionModel,
): { scheme?: VisionSchemeName; stepsPerLayer?: number } {
  const unsupported = [
    ['--schedule', flags.schedule],
    ['--rtol', flags.rtol],
    ['--atol', flags.atol],
  ].find(([, v]) => v !== undefined);
  if (unsupported !== undefined)
    throw new VisionDiscretisationError(`${unsupported[0]}`, {
      expected: 'the flags an image model takes: --scheme and --steps-per-layer',
      received: `${unsupported[0]} ${unsupported[1]}`,
      fix: 'image models run with piecewise-constant θ(t) and fixed steps; leave the flag out',
    });
  const recommended = model.config.recommended;
  const scheme = flags.scheme ?? (flags.stepsPerLayer !== undefined ? 'lie' : recommended?.scheme);
  const steps = flags.stepsPerLayer ?? (flags.scheme === undefined ? recommended?.stepsPerLayer : undefined);
  return {
    ...(scheme !== undefined && { scheme: scheme as VisionSchemeName }),
    ...(steps !== undefined && { stepsPerLayer: steps }),
  };
}

/** Reads `pixel_values` from an input file. */
function readPixels(file: string, model: VisionModel): tf.Tensor4D {
  const read = readSafetensorsFile(file, 'an input .safetensors file', { only: ['pixel_values'] });
  const t = read.tensors.get('pixel_values');
  const c = model.config.channels;
  if (t === undefined)
    throw new CheckpointError(`${file}: tensor "pixel_values"`, {
      expected: `float32 images [B, ${c}, H, W] for an image model`,
      received: `no such tensor (found: ${read.names.slice(0, 8).join(', ') || 'none'})`,
      fix: 'name the tensor pixel_values',
    });
  if (t.data instanceof Int32Array)
    throw new CheckpointError(`${file}: tensor "pixel_values"`, {
      expected: 'a float dtype (F32, F16, BF16 or F64)',
      received: t.dtype,
      fix: 'store normalised pixel values as floats',
    });
  if (t.shape.length !== 4)
    throw new CheckpointError(`${file}: tensor "pixel_values"`, {
      expected: `rank 4: [B, ${c}, H, W]`,
      received: `shape [${t.shape.join(', ')}]`,
      fix: 'store images channels-first with a batch axis',
    });
  return tf.tensor4d(t.data as Float32Array, t.shape as [number, number, number, number], 'float32');
}

/** `tide forward` on an image model. */
export function visionForwardCommand(
  flags: {
    model: string;
    input: string;
    output: string;
    allowUnused?: boolean;
    scheme?: string;
    stepsPerLayer?: number;
    schedule?: string;
    rtol?: number;
    atol?: number;
  },
  backend: string,
  io: CliIO,
): void {
  const model = loadVisionCheckpoint(flags.model, { allowUnusedTensors: flags.allowUnused === true });
  let pixels: tf.Tensor4D | undefined;
  try {
    const options = visionDiscretisation(flags, model);
    pixels = readPixels(flags.input, model);
    const t0 = performance.now();
    const result = visionForward(model, pixels, { ...options, source: `${flags.input}: tensor "pixel_values"` });
    const tensors: Record<string, TensorToWrite> = {
      output: { dtype: 'F32', shape: result.output.shape, data: result.output.dataSync() as Float32Array },
    };
    if (result.logits !== undefined)
      tensors['logits'] = { dtype: 'F32', shape: result.logits.shape, data: result.logits.dataSync() as Float32Array };
    tf.dispose([result.output, ...(result.logits ? [result.logits] : [])]);
    writeForwardOutput(flags.output, tensors, result.description);
    const shapes = Object.entries(tensors)
      .map(([k, v]) => `${k} [${v.shape.join(', ')}]`)
      .join(', ');
    io.out(
      `tide forward: ${result.description} on ${backend}: ${shapes} → ${flags.output} (${(performance.now() - t0).toFixed(0)} ms, ${result.stats.subSteps} sub-steps)`,
    );
  } finally {
    pixels?.dispose();
    model.dispose();
  }
}

/** What an image checkpoint holds, as a continuous model on a 2-D token domain. */
export function describeVisionModel(model: VisionModel, dir: string): string[] {
  const c = model.config;
  const params = [...flattenTree(model.parameters).values()].reduce((s, t) => s + t.size, 0);
  const layoutName = { 'torchvision-vit': 'torchvision ViT', 'hf-vit': 'HF ViT', 'hf-cvt': 'HF CvT' }[c.layout];
  const lines = [`${dir}: ${layoutName}, ${params.toLocaleString('en')} parameters`];
  const head = c.classes !== undefined && model.parameters.head !== undefined ? `${c.classes} classes` : 'no head';
  if (c.vit !== undefined) {
    const v = c.vit;
    const [h, w] = c.imageSize!;
    const [r, cols] = [h / v.patch, w / v.patch];
    lines.push(
      `  image domain: ${c.channels} channel(s) on Ω_x = [0, 1]², trained at ${h} × ${w} pixels`,
      `  patch lifting: ${v.patch} × ${v.patch} cells (a local integral with patch support) onto Ω_y with d = ${v.dModel}`,
      `  token domain Ω_x: the ${r} × ${cols} midpoint grid (${r * cols} patches, raster order, weights 1/${r * cols}) + the class token as one extra quadrature point`,
      `  position embedding: a function on Ω_x sampled on the ${r} × ${cols} grid; other image sizes (multiples of ${v.patch}) resample it bicubically`,
      `  depth: T = ${v.numLayers} pre-LN layers, u_t = A(P₁u) + F(P₂u), exact GELU, ε = ${c.epsilon}; exact scheme = Lie splitting with explicit Euler, Δt = 1`,
      `  heads: ${v.heads} (d_k = ${v.dModel / v.heads}), scale 1/√d_k; hidden domain d_ff = ${v.dFeedforward}`,
      `  readout: final projection LN at t = T; head on the class token (${head})`,
    );
  } else {
    lines.push(`  image domain: ${c.channels} channel(s) on Ω_x = [0, 1]², any resolution (no position embedding)`);
    c.stages!.forEach((s, i) => {
      const e = s.patch;
      lines.push(
        `  stage ${i}: coarsen by a ${e.kernel} × ${e.kernel} convolution (stride ${e.stride}, padding ${e.padding}) lifting ${s.inChannels} → ${s.dModel} features, then the LayerNorm projection; ${s.depth} pre-LN layer(s), ${s.heads} head(s), d_ff = ${s.dFeedforward}${s.classToken ? ', class token as an extra quadrature point' : ''}`,
        `    Q/K/V maps: depthwise ${s.kernelQkv} × ${s.kernelQkv} convolution + BatchNorm (eval) then the feature transform; keys and values on the grid coarsened by stride ${s.keyValue.stride} (padding ${s.keyValue.padding}); scale 1/√${s.dModel} (the stage width)`,
      );
    });
    const last = c.stages![c.stages!.length - 1]!;
    lines.push(
      `  readout: final LayerNorm of ${last.classToken ? 'the class token' : 'every last-stage token'}, mean over tokens, head (${head})`,
      `  grids: a ${[224, 224].join(' × ')} image gives ${gridsFor(c.stages!, 224, 224)}`,
    );
  }
  if (c.recommended !== undefined)
    lines.push(
      `  recommended discretisation: ${c.recommended.scheme}, ${c.recommended.stepsPerLayer} step(s) per layer`,
    );
  return lines;
}

/** The stage grids a `h × w` image passes through, with their key grids. */
function gridsFor(stages: NonNullable<VisionModel['config']['stages']>, h: number, w: number): string {
  return stageGrids(stages, h, w)
    .map((g) => `${g.rows}×${g.cols} (keys ${g.keyRows}×${g.keyCols})`)
    .join(' → ');
}

/** `tide inspect` on an image model. */
export function visionInspectCommand(flags: { model: string; allowUnused?: boolean }, io: CliIO): void {
  const model = loadVisionCheckpoint(flags.model, { allowUnusedTensors: flags.allowUnused === true });
  try {
    io.out(describeVisionModel(model, flags.model).join('\n'));
  } finally {
    model.dispose();
  }
}

/** Flags of `tide train-vision`. */
export interface TrainVisionFlags {
  readonly out: string;
  readonly steps: number;
  readonly batch: number;
  readonly imageSize: number;
  readonly patch: number;
  readonly dModel: number;
  readonly heads: number;
  readonly layers: number;
  readonly dFf?: number;
  readonly lr: number;
  readonly seed: number;
  /** Train on these image sides in turn (default: --image-size only). */
  readonly resolutions?: readonly number[];
  readonly heldOut: number;
  readonly backend?: string;
}

/**
 * `tide train-vision`: trains a ViT on the shapes task (pictures of data set seed 1, new ones every step),
 * evaluates it on held-out pictures (seed 2) at the trained size and at 1.5×, and writes a torchvision-layout
 * checkpoint recording the task and the run in config.json's `tide` field.
 */
export async function visionTrainCommand(flags: TrainVisionFlags, backend: string, io: CliIO): Promise<void> {
  const { trainImageClassifier } = await import('@tide/train');
  const sizes = flags.resolutions ?? [flags.imageSize];
  for (const s of sizes)
    if (!Number.isInteger(s) || s < flags.patch || s % flags.patch !== 0)
      throw new VisionDiscretisationError('--resolutions', {
        expected: `image sides that are multiples of the patch size ${flags.patch}`,
        received: String(s),
        fix: `e.g. --resolutions ${flags.imageSize - flags.patch},${flags.imageSize},${flags.imageSize + flags.patch}`,
      });
  const t0 = performance.now();
  const { model, losses } = trainImageClassifier(
    (step) => {
      const size = sizes[step % sizes.length]!;
      const b = shapesBatch({ seed: 1, start: step * flags.batch, count: flags.batch, height: size, width: size });
      return { pixels: tf.tensor4d(b.pixels, b.shape), labels: tf.tensor1d(b.labels, 'int32') };
    },
    {
      imageSize: flags.imageSize,
      patch: flags.patch,
      dModel: flags.dModel,
      heads: flags.heads,
      layers: flags.layers,
      classes: SHAPE_CLASSES.length,
      ...(flags.dFf !== undefined && { dFeedforward: flags.dFf }),
    },
    {
      steps: flags.steps,
      learningRate: flags.lr,
      seed: flags.seed,
      onProgress: ({ step, loss }) => {
        if ((step + 1) % 100 === 0 || step === 0)
          io.out(
            `  step ${step + 1}/${flags.steps}: loss ${loss.toFixed(4)} (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
          );
      },
    },
  );
  try {
    const study = runImageStudy(model, { count: flags.heldOut });
    const recent = losses.slice(-100);
    saveVisionCheckpoint(model, flags.out, {
      tide: {
        task: { name: 'shapes', classes: [...SHAPE_CLASSES], trainSeed: 1, heldOutSeed: 2 },
        training: {
          steps: flags.steps,
          batch: flags.batch,
          learningRate: flags.lr,
          seed: flags.seed,
          resolutions: sizes,
          finalLoss: recent.reduce((a, b) => a + b, 0) / recent.length,
          backend,
        },
        heldOut: study.accuracies.map((a) => ({ size: a.size, accuracy: a.accuracy, count: flags.heldOut })),
      },
    });
    io.out(
      [
        `tide train-vision: ${flags.steps} steps on ${backend} in ${((performance.now() - t0) / 1000).toFixed(0)} s → ${flags.out}`,
        ...study.table,
      ].join('\n'),
    );
  } finally {
    model.dispose();
  }
}
