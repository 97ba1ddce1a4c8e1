/**
 * Training an image classifier as optimal control (paper §2, §6; docs/image-models.md): choose the ViT's controls
 * θ(t) (and its patch lifting, class token, position embedding and head) to minimise the cross-entropy of the
 * class read out from u(T), by gradient descent through the solver (AdamW, warm-up and cosine decay). The model
 * is a torchvision-layout ViT, so what TIDE trains loads in torchvision (`interpolate_embeddings` included).
 */
import { describeValue, tf, unflattenTree } from '@tide/backend';
import { keyTableShapes } from '@tide/formats';
import {
  checkVisionDiscretisation,
  visionForward,
  visionKeyTable,
  visionModel,
  type VisionConfig,
  type VisionDiscretisationOptions,
  type VisionModel,
  type VisionParameters,
} from '@tide/vision';
import { AdamW, warmupCosine } from './adamw.js';
import { TrainingError } from './errors.js';

/** The sizes of a ViT to train. */
export interface ImageArchitecture {
  /** Square images of this side (pixels), a multiple of `patch`. */
  readonly imageSize: number;
  readonly patch: number;
  /** Default 3. */
  readonly channels?: number;
  readonly dModel: number;
  readonly heads: number;
  readonly layers: number;
  /** Default 2·d. */
  readonly dFeedforward?: number;
  readonly classes: number;
}

/** A ViT whose parameters are variables (by tree path), and which of them are weight-decayed. */
export interface TrainableVisionModel {
  readonly model: VisionModel;
  readonly variables: Map<string, tf.Variable>;
  readonly decay: Set<string>;
}

function checkArchitecture(arch: ImageArchitecture): void {
  const a = (arch ?? {}) as Partial<ImageArchitecture>;
  const sizes = [a.imageSize, a.patch, a.channels ?? 3, a.dModel, a.heads, a.layers, a.dFeedforward ?? 1, a.classes];
  if (!sizes.every((v) => Number.isInteger(v) && (v as number) > 0))
    throw new TrainingError('image architecture', {
      expected: 'positive integers imageSize, patch, dModel, heads, layers, classes (and channels, dFeedforward)',
      received: JSON.stringify(arch) ?? describeValue(arch),
      fix: 'e.g. { imageSize: 32, patch: 8, dModel: 48, heads: 4, layers: 4, classes: 4 }',
    });
  if (a.imageSize! % a.patch! !== 0 || a.dModel! % a.heads! !== 0 || a.classes! < 2)
    throw new TrainingError('image architecture', {
      expected: 'imageSize a multiple of patch, dModel a multiple of heads, at least two classes',
      received: `imageSize ${a.imageSize}, patch ${a.patch}, dModel ${a.dModel}, heads ${a.heads}, classes ${a.classes}`,
      fix: 'adjust the sizes',
    });
}

/** The config of an architecture (torchvision layout). */
export function imageArchitectureConfig(arch: ImageArchitecture): VisionConfig {
  checkArchitecture(arch);
  return {
    layout: 'torchvision-vit',
    channels: arch.channels ?? 3,
    imageSize: [arch.imageSize, arch.imageSize],
    classes: arch.classes,
    epsilon: 1e-6,
    vit: {
      dModel: arch.dModel,
      heads: arch.heads,
      dFeedforward: arch.dFeedforward ?? 2 * arch.dModel,
      numLayers: arch.layers,
      patch: arch.patch,
      qkvBias: true,
    },
  };
}

/**
 * A freshly initialised ViT (torchvision layout) with variables: kernels N(0, 0.02²) (output kernels scaled by
 * 1/√(2L)), the patch lifting N(0, 1/(C·p²)), LayerNorm γ = 1, biases 0, class token and positions N(0, 0.02²).
 * `seed` ≥ 0 makes it reproducible.
 */
export function initVisionTransformer(arch: ImageArchitecture, seed = 0): TrainableVisionModel {
  const config = imageArchitectureConfig(arch);
  const shapes = keyTableShapes(visionKeyTable(config));
  const variables = new Map<string, tf.Variable>();
  const decay = new Set<string>();
  let s = seed * 7919 + 1; // tfjs treats seed 0 as "no seed"
  const fanIn = (arch.channels ?? 3) * arch.patch * arch.patch;
  for (const [path, shape] of shapes) {
    const leaf = path.slice(path.lastIndexOf('.') + 1);
    let t: tf.Tensor;
    if (leaf === 'gamma') t = tf.ones(shape);
    else if (leaf === 'beta' || leaf.startsWith('b') || path === 'head.bias' || path === 'lift.bias')
      t = tf.zeros(shape);
    else {
      const std =
        path === 'lift.weight'
          ? 1 / Math.sqrt(fanIn)
          : leaf === 'wo' || leaf === 'w2'
            ? 0.02 / Math.sqrt(2 * arch.layers)
            : 0.02;
      t = tf.randomNormal(shape, 0, std, 'float32', s++);
      if (path !== 'positions' && path !== 'classToken') decay.add(path);
    }
    variables.set(path, tf.variable(t, true));
    t.dispose();
  }
  const model = visionModel(config, unflattenTree<VisionParameters>(variables), 'initialised ViT');
  return { model, variables, decay };
}

/**
 * The mean cross-entropy `−(1/B) Σ_b log softmax(logits_b)[label_b]` of the model on `pixels` `[B, C, H, W]` with
 * integer `labels` `[B]`, and the number of correct predictions. A scalar the caller owns (differentiable).
 */
export function classificationLoss(
  model: VisionModel,
  pixels: tf.Tensor4D,
  labels: tf.Tensor1D,
  options: VisionDiscretisationOptions = {},
): tf.Scalar {
  const classes = model.config.classes;
  if (model.parameters.head === undefined || classes === undefined)
    throw new TrainingError(`${model.source}: head`, {
      expected: 'a model with a classification head',
      received: 'no head',
      fix: 'initialise the model with classes',
    });
  if (
    !(labels instanceof tf.Tensor) ||
    labels.rank !== 1 ||
    labels.shape[0] !== pixels.shape[0] ||
    labels.dtype !== 'int32'
  )
    throw new TrainingError('labels', {
      expected: `int32 labels [${pixels.shape[0]}] in 0 … ${classes - 1}`,
      received: labels instanceof tf.Tensor ? `${labels.dtype} [${labels.shape.join(', ')}]` : describeValue(labels),
      fix: 'pass one integer class per image',
    });
  const [lo, hi] = [tf.min(labels), tf.max(labels)];
  const range = [lo.dataSync()[0]!, hi.dataSync()[0]!];
  tf.dispose([lo, hi]);
  if (range[0]! < 0 || range[1]! >= classes)
    throw new TrainingError('labels', {
      expected: `classes 0 … ${classes - 1}`,
      received: `labels from ${range[0]} to ${range[1]}`,
      fix: 'number the classes from 0, one per head output',
    });
  return tf.tidy(() => {
    const { output, logits } = visionForward(model, pixels, options);
    output.dispose();
    const logp = tf.sub(logits!, tf.logSumExp(logits!, 1, true)); // [B, K]: log softmax
    const picked = tf.sum(tf.mul(logp, tf.oneHot(labels, classes)), 1); // [B]
    return tf.neg(tf.mean(picked)) as tf.Scalar;
  });
}

/** A batch of training images and labels (the trainer disposes them). */
export interface ImageBatch {
  readonly pixels: tf.Tensor4D;
  readonly labels: tf.Tensor1D;
}

/** Options of {@link trainImageClassifier}. */
export interface ImageTrainOptions {
  readonly steps: number;
  /** Peak learning rate (default 2e-3), warm-up steps (default steps/20), weight decay (default 0.05). */
  readonly learningRate?: number;
  readonly warmup?: number;
  readonly weightDecay?: number;
  readonly seed?: number;
  /** The scheme the solve uses in training (default: the network, `exact`). */
  readonly discretisation?: VisionDiscretisationOptions;
  /** Called after each step. */
  readonly onProgress?: (p: { step: number; loss: number; learningRate: number }) => void;
}

/**
 * Trains a ViT on batches from `batches(step)`; returns the model (variables; the caller owns it) and the loss of
 * every step.
 */
export function trainImageClassifier(
  batches: (step: number) => ImageBatch,
  arch: ImageArchitecture,
  options: ImageTrainOptions,
): { model: VisionModel; losses: number[] } {
  if (!Number.isInteger(options?.steps) || options.steps < 1)
    throw new TrainingError('steps', {
      expected: 'a positive integer',
      received: describeValue(options?.steps),
      fix: 'pass steps: 1000',
    });
  if (typeof batches !== 'function')
    throw new TrainingError('batches', {
      expected: 'a function (step) => { pixels, labels }',
      received: describeValue(batches),
      fix: 'pass a batch source, e.g. one built on shapesBatch of @tide/vision',
    });
  const discretisation = checkVisionDiscretisation(options.discretisation ?? {});
  const { model, variables, decay } = initVisionTransformer(arch, options.seed ?? 0);
  const peak = options.learningRate ?? 2e-3;
  const warmup = options.warmup ?? Math.max(1, Math.floor(options.steps / 20));
  const optimiser = new AdamW(variables, decay, { learningRate: peak, weightDecay: options.weightDecay ?? 0.05 });
  const losses: number[] = [];
  try {
    for (let step = 0; step < options.steps; step++) {
      const batch = batches(step);
      try {
        const lr = warmupCosine(step, peak, warmup, options.steps);
        const { value, grads } = tf.variableGrads(
          () => classificationLoss(model, batch.pixels, batch.labels, discretisation),
          [...variables.values()],
        );
        const loss = value.dataSync()[0]!;
        value.dispose();
        if (!Number.isFinite(loss)) {
          tf.dispose(Object.values(grads));
          throw new TrainingError(`training step ${step}`, {
            expected: 'a finite loss',
            received: String(loss),
            fix: 'lower the learning rate',
          });
        }
        optimiser.apply(grads, lr);
        tf.dispose(Object.values(grads));
        losses.push(loss);
        options.onProgress?.({ step, loss, learningRate: lr });
      } finally {
        tf.dispose([batch.pixels, batch.labels]);
      }
    }
  } catch (error) {
    optimiser.dispose();
    model.dispose();
    throw error;
  }
  optimiser.dispose();
  return { model, losses };
}
