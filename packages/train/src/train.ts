/**
 * Training as optimal control (paper §2): choose the controls θ(t) that minimise the loss of u(T), subject to
 * the integro-differential equation — here by gradient descent through the solver (tfjs autodiff through any
 * scheme), with AdamW, warm-up and cosine decay. Optionally a trajectory regulariser from the control view,
 * the kinetic energy `∫₀ᵀ ‖u_t‖² dt ≈ Σ_n ‖u_{n+1} − u_n‖²/Δt` (mean over tokens).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { tf, describeValue, flattenTree, mapTree, seededRandom, unflattenTree } from '@tide/backend';
import { solve } from '@tide/solvers';
import { gpt2KeyTable, keyTableShapes, writeSafetensors } from '@tide/formats';
import { readJsonFile, readSafetensorsFile, writeFileAtomic } from '@tide/formats/node';
import {
  discretise,
  embedTokens,
  transformerModel,
  type DiscretisationOptions,
  type ModelConfig,
  type ModelParameters,
  type TransformerModel,
} from '@tide/transformer';
import { loadCheckpoint, saveCheckpoint } from '@tide/transformer/node';
import { AdamW, warmupCosine } from './adamw.js';
import { sampleBatch, type Corpus } from './corpus.js';
import { TrainingError } from './errors.js';

/** The architecture of a model to train (GPT-2 family, character vocabulary). */
export interface Architecture {
  readonly dModel: number;
  readonly heads: number;
  readonly layers: number;
  readonly dFeedforward?: number;
  readonly contextLength: number;
  /** Pre-LN (default, GPT-2) or post-LN layers (trained with the paper's post-LN Lie scheme). */
  readonly normFirst?: boolean;
}

/** Options of {@link trainLanguageModel}. */
export interface TrainOptions extends DiscretisationOptions {
  readonly steps: number;
  readonly batchSize?: number;
  readonly learningRate?: number;
  readonly warmup?: number;
  readonly weightDecay?: number;
  readonly seed?: number;
  /** Weight of the kinetic-energy regulariser (default 0). */
  readonly kineticWeight?: number;
  readonly evalEvery?: number;
  readonly evalBatches?: number;
  /** Where checkpoints go (GPT-2 layout + trainer state); none when omitted. */
  readonly outDir?: string;
  readonly checkpointEvery?: number;
  /** Continue from the trainer state in `outDir` (the same run: same `steps` and settings). */
  readonly resume?: boolean;
  /** Stop (with a checkpoint) after this step of the run, e.g. to continue later with `resume`. */
  readonly stopAfter?: number;
  readonly onProgress?: (p: TrainProgress) => void;
}

/** One report of the training loop. */
export interface TrainProgress {
  readonly step: number;
  readonly steps: number;
  readonly loss: number;
  readonly learningRate: number;
  readonly tokensPerSecond: number;
  readonly elapsedSeconds: number;
  readonly validationLoss?: number;
  readonly kinetic?: number;
}

/** What a training run returns; the caller owns (and disposes) the model. */
export interface TrainResult {
  readonly model: TransformerModel;
  readonly history: readonly { step: number; loss: number; validationLoss?: number }[];
  readonly trainLoss: number;
  readonly validationLoss: number;
  readonly seconds: number;
}

/**
 * How a parameter starts (GPT-2's scheme): LayerNorm gains 1, biases 0, position embeddings N(0, 0.01), the
 * kernels that write into the residual stream (`wo`, `w2`) N(0, 0.02/√(2L)), every other kernel N(0, 0.02).
 * Weight decay applies to the 2-D kernels and the token embedding.
 */
function initialisation(
  path: string,
  layers: number,
): { kind: 'normal' | 'ones' | 'zeros'; std: number; decay: boolean } {
  const leaf = path.slice(path.lastIndexOf('.') + 1);
  if (leaf === 'gamma') return { kind: 'ones', std: 0, decay: false };
  if (leaf === 'beta' || /^b[qkvo12]$/.test(leaf)) return { kind: 'zeros', std: 0, decay: false };
  if (path === 'embeddings.positions') return { kind: 'normal', std: 0.01, decay: false };
  return { kind: 'normal', std: leaf === 'wo' || leaf === 'w2' ? 0.02 / Math.sqrt(2 * layers) : 0.02, decay: true };
}

/** The trainable variables of a model (by parameter-tree path), and which of them are weight-decayed. */
export interface TrainableModel {
  readonly model: TransformerModel;
  readonly variables: Map<string, tf.Variable>;
  readonly decay: Set<string>;
}

/** Collects the variables of a model whose parameters are `tf.Variable`s. */
function trainable(model: TransformerModel): TrainableModel {
  const variables = new Map<string, tf.Variable>();
  const decay = new Set<string>();
  const L = model.config.numLayers;
  for (const [path, t] of flattenTree(model.parameters)) {
    if (!(t instanceof tf.Variable))
      throw new TrainingError(`train: parameter "${path}"`, {
        expected: 'a trainable variable',
        received: 'a constant tensor',
        fix: 'convert the model with asVariables',
      });
    variables.set(path, t);
    if (initialisation(path, L).decay) decay.add(path);
  }
  return { model, variables, decay };
}

/** A model whose parameters are trainable variables (the constants are disposed). */
export function asVariables(model: TransformerModel): TrainableModel {
  const parameters = mapTree(model.parameters, (t) => {
    const v = tf.variable(t, true);
    t.dispose();
    return v;
  });
  return trainable(transformerModel(model.config, parameters, model.source));
}

/** A GPT-2-family model with freshly initialised variables, shaped by the GPT-2 key table. */
export function initLanguageModel(arch: Architecture, alphabet: string, seed = 0): TrainableModel {
  const { dModel: d, heads, layers: L, contextLength: P } = arch;
  const f = arch.dFeedforward ?? 4 * d;
  const V = [...alphabet].length;
  if (![d, heads, L, f, P].every((v) => Number.isInteger(v) && v > 0) || d % heads !== 0) {
    throw new TrainingError('architecture', {
      expected: 'positive integers with heads dividing d_model',
      received: JSON.stringify({ d, heads, L, f, P }),
      fix: 'e.g. --d-model 64 --heads 4 --layers 4 --context 64',
    });
  }
  const shapes = keyTableShapes(gpt2KeyTable({ layers: L, dModel: d, dFeedforward: f, vocabSize: V, positions: P }));
  shapes.delete('embeddings.head'); // the LM head is tied to the token embedding
  // tfjs treats seed 0 as "no seed" (Math.random()): every seed used here is ≥ 1.
  let s = seed * 7919 + 1;
  const leaves = new Map<string, tf.Tensor>();
  for (const [path, shape] of shapes) {
    const { kind, std } = initialisation(path, L);
    const t =
      kind === 'normal'
        ? tf.randomNormal(shape, 0, std, 'float32', s++)
        : kind === 'ones'
          ? tf.ones(shape)
          : tf.zeros(shape);
    leaves.set(path, tf.variable(t, true));
    t.dispose();
  }
  const config: ModelConfig = {
    layout: 'gpt2',
    dModel: d,
    heads,
    dFeedforward: f,
    numLayers: L,
    activation: 'gelu_new',
    normFirst: arch.normFirst ?? true,
    epsilon: 1e-5,
    causal: true,
    finalNorm: true,
    vocabSize: V,
    positions: P,
    tokenizer: { type: 'chars', alphabet },
  };
  return trainable(transformerModel(config, unflattenTree<ModelParameters>(leaves), 'initLanguageModel'));
}

/**
 * The loss of a batch: mean next-token cross-entropy of the logits at t = T, plus `kineticWeight·∫‖u_t‖²dt`.
 * Returns scalars (caller owns them).
 */
export function languageModelLoss(
  model: TransformerModel,
  inputs: tf.Tensor2D,
  targets: tf.Tensor2D,
  options: DiscretisationOptions & { kineticWeight?: number } = {},
): { loss: tf.Scalar; crossEntropy: tf.Scalar; kinetic: tf.Scalar } {
  const disc = discretise(model, options);
  try {
    return tf.tidy(() => {
      const u0 = embedTokens(model, inputs, 'inputs', { differentiable: true });
      const kw = options.kineticWeight ?? 0;
      const sol = solve(u0, disc.scheme, {
        t1: disc.t1,
        step: { stepsPerUnit: disc.stepsPerLayer },
        ...(kw > 0 && { saveAt: 'steps' as const }),
      });
      const dt = 1 / disc.stepsPerLayer;
      let kinetic: tf.Scalar = tf.scalar(0);
      for (let n = 0; n + 1 < sol.states.length; n++) {
        kinetic = tf.add(
          kinetic,
          tf.div(tf.mean(tf.sum(tf.square(tf.sub(sol.states[n + 1]!.values, sol.states[n]!.values)), -1)), dt),
        ) as tf.Scalar;
      }
      const logits = disc.readout(sol.u); // [B, N, V]
      const V = logits.shape[2];
      const flat = tf.reshape(logits, [-1, V]); // [B·N, V]
      const logp = tf.sub(flat, tf.logSumExp(flat, -1, true)); // log-softmax (tf.logSoftmax leaks a data id on wasm under autodiff)
      const crossEntropy = tf.neg(
        tf.mean(tf.sum(tf.mul(logp, tf.oneHot(tf.reshape(targets, [-1]), V)), -1)),
      ) as tf.Scalar;
      return { loss: tf.add(crossEntropy, tf.mul(kinetic, kw)) as tf.Scalar, crossEntropy, kinetic };
    });
  } finally {
    disc.dispose();
  }
}

function check(name: string, value: unknown, ok: boolean, fix: string): void {
  if (!ok)
    throw new TrainingError(`train: ${name}`, {
      expected: fix,
      received: describeValue(value),
      fix: `pass a valid --${name}`,
    });
}

/** Trains a character-level language model on `corpus` (or continues the run in `options.outDir`). */
export function trainLanguageModel(corpus: Corpus, arch: Architecture, options: TrainOptions): TrainResult {
  const batch = options.batchSize ?? 16;
  const peak = options.learningRate ?? 3e-3;
  const warmup = options.warmup ?? Math.min(100, Math.floor(options.steps / 10));
  const seed = options.seed ?? 0;
  const evalEvery = options.evalEvery ?? 100;
  const evalBatches = options.evalBatches ?? 8;
  check('steps', options.steps, Number.isInteger(options.steps) && options.steps > 0, 'an integer > 0');
  check('batch', batch, Number.isInteger(batch) && batch > 0, 'an integer > 0');
  check('lr', peak, peak > 0 && Number.isFinite(peak), 'a learning rate > 0');
  const disc: DiscretisationOptions = {
    ...(options.scheme && { scheme: options.scheme }),
    ...(options.stepsPerLayer && { stepsPerLayer: options.stepsPerLayer }),
    ...(options.schedule && { schedule: options.schedule }),
  };
  const loss = { ...disc, kineticWeight: options.kineticWeight ?? 0 };
  let model: TransformerModel;
  let variables: Map<string, tf.Variable>;
  let decay: Set<string>;
  let start = 0;
  let history: { step: number; loss: number; validationLoss?: number }[] = [];
  const statePath = options.outDir === undefined ? undefined : join(options.outDir, 'trainer-state.safetensors');
  if (options.resume) {
    if (options.outDir === undefined || !existsSync(statePath!))
      throw new TrainingError('train --resume', {
        expected: `a trainer state in ${options.outDir}`,
        received: 'none',
        fix: 'resume from the --out folder of an earlier run',
      });
    const meta = readJsonFile(join(options.outDir, 'trainer.json'), 'the trainer state trainer.json');
    if (!Number.isInteger(meta['step']) || !Array.isArray(meta['history'])) {
      throw new TrainingError(`${join(options.outDir, 'trainer.json')}`, {
        expected: '{ "step": integer, "history": [...] } written by tide train',
        received: `step ${describeValue(meta['step'])}, history ${describeValue(meta['history'])}`,
        fix: 'the trainer state is damaged; train from scratch',
      });
    }
    ({ model, variables, decay } = asVariables(loadCheckpoint(options.outDir)));
    start = meta['step'] as number;
    history = meta['history'] as typeof history;
  } else {
    ({ model, variables, decay } = initLanguageModel(arch, corpus.alphabet, seed));
  }
  const optimizer = new AdamW(variables, decay, { learningRate: peak, weightDecay: options.weightDecay ?? 0.1 });
  // A failure from here on (a damaged trainer state, a diverging loss) leaves no variables behind.
  try {
    if (options.resume) {
      const state = readSafetensorsFile(statePath!, 'the trainer state').tensors;
      for (const [name] of variables) {
        const m = state.get(`${name}.m`);
        const v = state.get(`${name}.v`);
        if (!m || !v)
          throw new TrainingError(`${statePath}: "${name}.m"`, {
            expected: 'the optimizer moments of every variable',
            received: 'a missing entry',
            fix: 'the trainer state is incomplete; train from scratch',
          });
        optimizer.m.get(name)!.assign(tf.tensor(m.data as Float32Array, m.shape as number[]));
        optimizer.v.get(name)!.assign(tf.tensor(v.data as Float32Array, v.shape as number[]));
      }
      optimizer.step = start;
    }
    const context = model.config.positions!;
    const validation = () => {
      const random = seededRandom(seed + 1_000_003);
      let total = 0;
      for (let i = 0; i < evalBatches; i++) {
        const { inputs, targets } = sampleBatch(corpus.validation, batch, context, random);
        const l = languageModelLoss(model, inputs, targets, disc);
        total += l.crossEntropy.dataSync()[0]!;
        tf.dispose([inputs, targets, l.loss, l.crossEntropy, l.kinetic]);
      }
      return total / evalBatches;
    };
    const save = (step: number) => {
      if (options.outDir === undefined) return;
      saveCheckpoint(
        model,
        options.outDir,
        {
          tide: {
            scheme: disc.scheme ?? 'lie',
            stepsPerLayer: disc.stepsPerLayer ?? 1,
            schedule: disc.schedule ?? 'piecewise',
            trainedSteps: step,
            norm_first: model.config.normFirst,
          },
        },
        { format: 'pt', generator: 'tide train' },
      );
      const state: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
      for (const [name] of variables) {
        const m = optimizer.m.get(name)!;
        state[`${name}.m`] = { dtype: 'F32', shape: m.shape, data: m.dataSync() as Float32Array };
        state[`${name}.v`] = { dtype: 'F32', shape: m.shape, data: optimizer.v.get(name)!.dataSync() as Float32Array };
      }
      writeFileAtomic(statePath!, writeSafetensors(state));
      writeFileAtomic(
        join(options.outDir, 'trainer.json'),
        `${JSON.stringify({ step, history, options: { ...options, onProgress: undefined }, arch }, null, 1)}\n`,
      );
    };
    const t0 = performance.now();
    let last = NaN;
    let smoothed = NaN;
    const end = Math.min(options.steps, options.stopAfter ?? options.steps);
    for (let step = start; step < end; step++) {
      const random = seededRandom(seed * 1_000_033 + step);
      const { inputs, targets } = sampleBatch(corpus.train, batch, context, random);
      const lr = warmupCosine(step, peak, warmup, options.steps);
      let kinetic = 0;
      const { value, grads } = tf.variableGrads(() => {
        const l = languageModelLoss(model, inputs, targets, loss);
        kinetic = l.kinetic.dataSync()[0]!;
        return l.loss;
      }, [...variables.values()]);
      last = value.dataSync()[0]!;
      if (!Number.isFinite(last))
        throw new TrainingError(`train: step ${step}`, {
          expected: 'a finite loss',
          received: String(last),
          fix: 'lower --lr',
        });
      optimizer.apply(grads, lr);
      tf.dispose([value, inputs, targets, ...Object.values(grads)]);
      smoothed = Number.isNaN(smoothed) ? last : 0.95 * smoothed + 0.05 * last;
      const done = step + 1;
      const evaluate = done % evalEvery === 0 || done === end;
      const validationLoss = evaluate ? validation() : undefined;
      if (evaluate)
        history.push({ step: done, loss: smoothed, ...(validationLoss !== undefined && { validationLoss }) });
      const elapsed = (performance.now() - t0) / 1000;
      options.onProgress?.({
        step: done,
        steps: options.steps,
        loss: smoothed,
        learningRate: lr,
        tokensPerSecond: ((done - start) * batch * context) / elapsed,
        elapsedSeconds: elapsed,
        ...(validationLoss !== undefined && { validationLoss }),
        ...(loss.kineticWeight > 0 && { kinetic }),
      });
      if ((options.checkpointEvery !== undefined && done % options.checkpointEvery === 0) || done === end) save(done);
    }
    const validationLoss =
      history.length > 0 ? (history[history.length - 1]!.validationLoss ?? validation()) : validation();
    optimizer.dispose();
    return { model, history, trainLoss: smoothed, validationLoss, seconds: (performance.now() - t0) / 1000 };
  } catch (error) {
    optimizer.dispose();
    model.dispose();
    throw error;
  }
}
