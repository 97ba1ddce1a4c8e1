/**
 * Training as optimal control (paper §2): choose the controls θ(t) that minimise the loss of u(T), subject to
 * the integro-differential equation — here by gradient descent through the solver (tfjs autodiff through any
 * scheme), with AdamW, warm-up and cosine decay. Optionally a trajectory regulariser from the control view,
 * the kinetic energy `∫₀ᵀ ‖u_t‖² dt ≈ Σ_n ‖u_{n+1} − u_n‖²/Δt` (mean over tokens).
 *
 * Training for the continuum (docs/continuous-depth.md, "Training a model whose continuum exists"): smooth controls
 * θ(t) = Σ_k c_k P_k(2t/T − 1) whose variables are the Legendre coefficients (`controls`), a warm start from a
 * discrete network (`initFrom`: θ(i + ½) fitted to layer i), a scheme drawn per batch (`schemes`), the agreement
 * term `w·KL(p_fine ‖ p_coarse)` (`fine`, `fineWeight`) and the control energy `λ·∫₀ᵀ ‖θ'(t)‖² dt`
 * (`controlWeight`).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { TideError, tf, describeValue, flattenTree, mapTree, seededRandom, unflattenTree } from '@tide/backend';
import { fitLegendre, legendreControlEnergy, solve } from '@tide/solvers';
import { gpt2KeyTable, keyTableShapes, writeSafetensors } from '@tide/formats';
import { readJsonFile, readSafetensorsFile, writeFileAtomic } from '@tide/formats/node';
import {
  MAX_CONTROL_COEFFICIENTS,
  checkControlsOptions,
  checkDiscretisationOptions,
  discretise,
  embedTokens,
  transformerModel,
  type ControlBasis,
  type DiscretisationOptions,
  type LayerParameters,
  type ModelConfig,
  type ModelParameters,
  type SchemeName,
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

/** A scheme and its steps per layer (`rk4:2` on the command line). */
export interface SchemeChoice {
  readonly scheme: SchemeName;
  readonly stepsPerLayer: number;
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
  /**
   * Smooth controls: train θ(t) = Σ_{k<K} c_k P_k(2t/T − 1) on [0, T] (T = `layers`); the variables are the K
   * Legendre coefficient sets. Pre-LN only. Default scheme with controls: `rk4`, one step per layer.
   */
  readonly controls?: ControlBasis;
  /**
   * Warm start from a model with the same sizes (a fresh run only; `resume` continues from `outDir`): embeddings
   * and final norm copied; with `controls`, the coefficients fitted (least squares, exact for K = L) so that
   * θ(i + ½) equals layer i's parameters; without, the layers copied. The caller keeps (and disposes) the model.
   */
  readonly initFrom?: TransformerModel;
  /**
   * Each batch is solved with one of these, drawn by the batch's seeded generator (deterministic, resumable); the
   * first is the one recommended for inference (recorded in config.json, used for validation). Instead of
   * `scheme` / `stepsPerLayer`.
   */
  readonly schemes?: readonly SchemeChoice[];
  /** The fine solve of the agreement term (default `rk4` with 4 steps per layer when `fineWeight` > 0). */
  readonly fine?: SchemeChoice;
  /** Weight w of `w·KL(p_fine ‖ p_coarse)`, mean over tokens (default 0: no fine solve). */
  readonly fineWeight?: number;
  /** Weight λ of the control energy `λ·∫₀ᵀ ‖θ'(t)‖² dt` (smooth controls only; default 0). */
  readonly controlWeight?: number;
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
  /** The scheme this step's batch was solved with. */
  readonly scheme?: SchemeChoice;
  /** KL(p_fine ‖ p_coarse) of this step's batch (nats per token), with `fineWeight` > 0. */
  readonly fineDivergence?: number;
  /** ∫₀ᵀ ‖θ'(t)‖² dt, with `controlWeight` > 0. */
  readonly controlEnergy?: number;
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
 *
 * Smooth controls with K coefficients (`layers.{k}.…` is coefficient k): every coefficient of a kernel is drawn
 * with the std above divided by √K, so that θ(t) = Σ_k c_k P_k has the discrete initialisation's variance at the
 * ends of [0, T] (P_k(±1)² = 1) and at most that inside; gains are 1 in c_0 and 0 in c_k, k ≥ 1 (θ's gains start
 * at 1 for every t).
 */
function initialisation(
  path: string,
  layers: number,
  coefficients = 0,
): { kind: 'normal' | 'ones' | 'zeros'; std: number; decay: boolean } {
  const leaf = path.slice(path.lastIndexOf('.') + 1);
  const k = coefficients > 0 && path.startsWith('layers.') ? Number(path.split('.')[1]) : 0;
  if (leaf === 'gamma') return { kind: k === 0 ? 'ones' : 'zeros', std: 0, decay: false };
  if (leaf === 'beta' || /^b[qkvo12]$/.test(leaf)) return { kind: 'zeros', std: 0, decay: false };
  if (path === 'embeddings.positions') return { kind: 'normal', std: 0.01, decay: false };
  const std = leaf === 'wo' || leaf === 'w2' ? 0.02 / Math.sqrt(2 * layers) : 0.02;
  return {
    kind: 'normal',
    std: path.startsWith('layers.') && coefficients > 0 ? std / Math.sqrt(coefficients) : std,
    decay: true,
  };
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
  const K = model.config.controls?.coefficients ?? 0;
  for (const [path, t] of flattenTree(model.parameters)) {
    if (!(t instanceof tf.Variable))
      throw new TrainingError(`train: parameter "${path}"`, {
        expected: 'a trainable variable',
        received: 'a constant tensor',
        fix: 'convert the model with asVariables',
      });
    variables.set(path, t);
    if (initialisation(path, L, K).decay) decay.add(path);
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

function checkArchitecture(arch: Architecture): void {
  const { dModel: d, heads, layers: L, contextLength: P } = arch ?? ({} as Architecture);
  const f = arch?.dFeedforward ?? 4 * d;
  if (![d, heads, L, f, P].every((v) => Number.isInteger(v) && v > 0) || d % heads !== 0) {
    throw new TrainingError('architecture', {
      expected: 'positive integers with heads dividing d_model',
      received: JSON.stringify({ d, heads, L, f, P }),
      fix: 'e.g. --d-model 64 --heads 4 --layers 4 --context 64',
    });
  }
}

/**
 * A GPT-2-family model with freshly initialised variables, shaped by the GPT-2 key table; with `controls`, a
 * smooth-control model whose `layers` are the K Legendre coefficient sets over [0, T], T = `arch.layers`.
 */
export function initLanguageModel(
  arch: Architecture,
  alphabet: string,
  seed = 0,
  controls?: ControlBasis,
): TrainableModel {
  checkArchitecture(arch);
  const { dModel: d, heads, layers: L, contextLength: P } = arch;
  const f = arch.dFeedforward ?? 4 * d;
  const V = [...alphabet].length;
  const K = controls?.coefficients ?? 0;
  const shapes = keyTableShapes(
    gpt2KeyTable({ layers: K > 0 ? K : L, dModel: d, dFeedforward: f, vocabSize: V, positions: P }),
  );
  shapes.delete('embeddings.head'); // the LM head is tied to the token embedding
  // tfjs treats seed 0 as "no seed" (Math.random()): every seed used here is ≥ 1.
  let s = seed * 7919 + 1;
  const leaves = new Map<string, tf.Tensor>();
  for (const [path, shape] of shapes) {
    const { kind, std } = initialisation(path, L, K);
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
    ...(controls !== undefined && { controls: { basis: controls.basis, coefficients: controls.coefficients } }),
  };
  return trainable(transformerModel(config, unflattenTree<ModelParameters>(leaves), 'initLanguageModel'));
}

/** Options of {@link languageModelLoss}: the coarse solve's discretisation and the regularisers' weights. */
export interface LossOptions extends DiscretisationOptions {
  /** Weight of `∫₀ᵀ ‖u_t‖² dt` (default 0). */
  readonly kineticWeight?: number;
  /** The fine solve of the agreement term (default rk4 with 4 steps per layer). */
  readonly fine?: SchemeChoice;
  /** Weight of `KL(p_fine ‖ p_coarse)` (default 0: no fine solve). */
  readonly fineWeight?: number;
  /** Weight of `∫₀ᵀ ‖θ'(t)‖² dt` (smooth controls only; default 0). */
  readonly controlWeight?: number;
}

/** The scalars of {@link languageModelLoss} (caller owns them); the optional ones only when their weight is > 0. */
export interface LanguageModelLoss {
  readonly loss: tf.Scalar;
  readonly crossEntropy: tf.Scalar;
  readonly kinetic: tf.Scalar;
  /** KL(p_fine ‖ p_coarse), mean over tokens, with `fineWeight` > 0. */
  readonly fineDivergence?: tf.Scalar;
  /** ∫₀ᵀ ‖θ'(t)‖² dt of a smooth-control model, with `controlWeight` > 0. */
  readonly controlEnergy?: tf.Scalar;
}

/**
 * log-softmax over the last axis of logits [B, N, V], as [B·N, V]. tfjs's op has its own gradient
 * (`dy − softmax·Σ dy`): its max shift is never differentiated (the gradient of max, an Equal mask with
 * broadcasting, took 5.8 ms of a 150 ms training step on wasm).
 */
function logSoftmax(logits: tf.Tensor3D): tf.Tensor2D {
  return tf.logSoftmax(tf.reshape(logits, [-1, logits.shape[2]])) as tf.Tensor2D; // [B·N, V]
}

/**
 * The loss of a batch: mean next-token cross-entropy of the logits at t = T, plus `kineticWeight·∫‖u_t‖²dt`,
 * `fineWeight·KL(p_fine ‖ p_coarse)` (the same batch solved again with `fine`; gradients flow through both solves)
 * and `controlWeight·∫₀ᵀ‖θ'(t)‖²dt` (smooth controls). Returns scalars (caller owns them).
 */
export function languageModelLoss(
  model: TransformerModel,
  inputs: tf.Tensor2D,
  targets: tf.Tensor2D,
  options: LossOptions = {},
): LanguageModelLoss {
  const kw = options.kineticWeight ?? 0;
  const fw = options.fineWeight ?? 0;
  const cw = options.controlWeight ?? 0;
  if (cw > 0 && model.config.controls === undefined)
    throw new TrainingError('train: control energy', {
      expected: 'a model with smooth controls (a discrete θ jumps: its ∫‖θ′‖² is infinite)',
      received: `a discrete ${model.config.numLayers}-layer model`,
      fix: 'pass --controls legendre:K with --control-energy',
    });
  const disc = discretise(model, options);
  let fineDisc: ReturnType<typeof discretise> | undefined;
  try {
    fineDisc = fw > 0 ? discretise(model, options.fine ?? DEFAULT_FINE) : undefined;
    return tf.tidy(() => {
      const u0 = embedTokens(model, inputs, 'inputs', { differentiable: true });
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
      const logp = logSoftmax(disc.readout(sol.u)); // [B·N, V]
      const V = logp.shape[1];
      const crossEntropy = tf.neg(
        tf.mean(tf.sum(tf.mul(logp, tf.oneHot(tf.reshape(targets, [-1]), V)), -1)),
      ) as tf.Scalar;
      let loss = tf.add(crossEntropy, tf.mul(kinetic, kw)) as tf.Scalar;
      let fineDivergence: tf.Scalar | undefined;
      if (fineDisc !== undefined) {
        const fineSol = solve(u0, fineDisc.scheme, { t1: fineDisc.t1, step: { stepsPerUnit: fineDisc.stepsPerLayer } });
        const logq = logSoftmax(fineDisc.readout(fineSol.u)); // the fine solve's log-probabilities
        fineDivergence = tf.mean(tf.sum(tf.mul(tf.exp(logq), tf.sub(logq, logp)), -1)) as tf.Scalar;
        loss = tf.add(loss, tf.mul(fineDivergence, fw)) as tf.Scalar;
      }
      let controlEnergy: tf.Scalar | undefined;
      if (cw > 0) {
        controlEnergy = legendreControlEnergy(model.parameters.layers, { span: [0, model.config.numLayers] });
        loss = tf.add(loss, tf.mul(controlEnergy, cw)) as tf.Scalar;
      }
      return {
        loss,
        crossEntropy,
        kinetic,
        ...(fineDivergence !== undefined && { fineDivergence }),
        ...(controlEnergy !== undefined && { controlEnergy }),
      };
    });
  } finally {
    disc.dispose();
    fineDisc?.dispose();
  }
}

/** The fine solve of the agreement term when none is given: RK4 with 4 steps per layer. */
const DEFAULT_FINE: SchemeChoice = { scheme: 'rk4', stepsPerLayer: 4 };

function check(name: string, value: unknown, ok: boolean, fix: string): void {
  if (!ok)
    throw new TrainingError(`train: ${name}`, {
      expected: fix,
      received: describeValue(value),
      fix: `pass a valid --${name}`,
    });
}

/** The training options after {@link checkTrainOptions}: every default filled in. */
export interface CheckedTrainOptions {
  /** The schemes batches are solved with; the first is recommended for inference (and used for validation). */
  readonly schemes: readonly SchemeChoice[];
  readonly schedule: 'piecewise' | 'linear';
  readonly controls?: ControlBasis;
  readonly kineticWeight: number;
  /** The fine solve, when `fineWeight` > 0. */
  readonly fine?: SchemeChoice;
  readonly fineWeight: number;
  readonly controlWeight: number;
}

/** `rk4:2`: a scheme choice as the command line writes it. */
const describeChoice = (c: Partial<SchemeChoice> | undefined): string =>
  typeof c === 'object' && c !== null ? `${String(c.scheme)}:${String(c.stepsPerLayer)}` : describeValue(c);

/** Checks one scheme choice for the model being trained (a {@link TrainingError} naming the flag). */
function checkChoice(
  flag: string,
  choice: unknown,
  schedule: 'piecewise' | 'linear',
  controls: ControlBasis | undefined,
  normFirst: boolean,
): SchemeChoice {
  const c = choice as Partial<SchemeChoice> | undefined;
  if (typeof c !== 'object' || c === null)
    throw new TrainingError(`train: ${flag}`, {
      expected: '{ scheme, stepsPerLayer }',
      received: describeValue(choice),
      fix: `pass ${flag} scheme:k, e.g. rk4:2`,
    });
  let checked: SchemeChoice;
  try {
    const d = checkDiscretisationOptions({ scheme: c.scheme, stepsPerLayer: c.stepsPerLayer ?? 1, schedule });
    checkControlsOptions({ controls } as ModelConfig, d);
    checked = { scheme: d.scheme, stepsPerLayer: d.stepsPerLayer };
  } catch (error) {
    if (!(error instanceof TideError)) throw error;
    throw new TrainingError(`train: ${flag} ${describeChoice(c)}: ${error.subject}`, {
      expected: error.expected,
      received: error.received,
      ...(error.fix !== undefined && { fix: error.fix }),
      cause: error,
    });
  }
  if (!normFirst && checked.scheme !== 'exact' && checked.scheme !== 'lie')
    throw new TrainingError(`train: ${flag} ${describeChoice(checked)}`, {
      expected: 'exact or lie for post-LN layers',
      received: `'${checked.scheme}'`,
      fix: 'post-LN layers are projections, not a smooth field: train them with --scheme lie',
    });
  return checked;
}

/** A weight: a finite number ≥ 0 (default 0). */
function weight(flag: string, value: number | undefined): number {
  const w = value ?? 0;
  if (typeof w !== 'number' || !Number.isFinite(w) || w < 0)
    throw new TrainingError(`train: ${flag}`, {
      expected: 'a finite number ≥ 0',
      received: describeValue(w),
      fix: `pass ${flag} w with w ≥ 0 (0 turns the term off)`,
    });
  return w;
}

/** Checks a warm-start model against the architecture, the alphabet and the controls (nothing is allocated). */
function checkInitFrom(
  source: TransformerModel,
  arch: Architecture,
  controls: ControlBasis | undefined,
  alphabet: string | undefined,
): void {
  const c = (source as Partial<TransformerModel> | undefined)?.config;
  if (typeof source !== 'object' || source === null || c === undefined || source.parameters?.embeddings === undefined)
    throw new TrainingError('train: --init-from', {
      expected: 'a GPT-2 language model (a loaded checkpoint)',
      received: c === undefined ? describeValue(source) : `a ${c.layout} model without embeddings`,
      fix: 'pass --init-from DIR, a folder written by tide train',
    });
  const want = {
    n_embd: arch.dModel,
    n_head: arch.heads,
    n_inner: arch.dFeedforward ?? 4 * arch.dModel,
    n_layer: arch.layers,
    n_positions: arch.contextLength,
    norm_first: arch.normFirst ?? true,
    ...(alphabet !== undefined && { vocab_size: [...alphabet].length }),
  };
  const have: Record<string, unknown> = {
    n_embd: c.dModel,
    n_head: c.heads,
    n_inner: c.dFeedforward,
    n_layer: c.numLayers,
    n_positions: c.positions,
    norm_first: c.normFirst,
    vocab_size: c.vocabSize,
  };
  const differ = Object.entries(want).filter(([k, v]) => have[k] !== v);
  if (differ.length > 0)
    throw new TrainingError(`train: --init-from ${source.source}`, {
      expected: `the sizes of the model to train (${differ.map(([k, v]) => `${k} ${String(v)}`).join(', ')})`,
      received: differ.map(([k]) => `${k} ${String(have[k])}`).join(', '),
      fix: 'leave the architecture flags out (they default to the --init-from model) or warm-start from a model of these sizes',
    });
  if (alphabet !== undefined && c.tokenizer?.type === 'chars' && c.tokenizer.alphabet !== alphabet)
    throw new TrainingError(`train: --init-from ${source.source}`, {
      expected: "the corpus's character alphabet",
      received: 'a model with another alphabet of the same size',
      fix: 'warm-start from a model trained on the same alphabet',
    });
  const K = controls?.coefficients;
  const sourceK = c.controls?.coefficients;
  if (sourceK !== undefined && sourceK !== K)
    throw new TrainingError(`train: --init-from ${source.source}`, {
      expected:
        K === undefined
          ? 'a discrete network for a discrete run'
          : `a discrete network, or smooth controls with K = ${K}`,
      received: `smooth controls with K = ${sourceK}`,
      fix: `pass --controls legendre:${sourceK} to continue its smooth controls`,
    });
  if (sourceK === undefined && K !== undefined && K > c.numLayers)
    throw new TrainingError(`train: --controls legendre:${K} with --init-from ${source.source}`, {
      expected: `at most ${c.numLayers} coefficients (one per layer: the fit interpolates θ(i + ½) = layer i)`,
      received: `K = ${K}`,
      fix: `pass --controls legendre:${c.numLayers} (exact interpolation) or fewer (least squares)`,
    });
}

/**
 * Checks the options of {@link trainLanguageModel} (and the architecture) before anything is allocated, and fills
 * in the defaults; every refusal is a one-line {@link TrainingError} naming the option (the CLI's flag). `alphabet`
 * (the corpus's) is checked against `initFrom` when given.
 */
export function checkTrainOptions(arch: Architecture, options: TrainOptions, alphabet?: string): CheckedTrainOptions {
  if (typeof options !== 'object' || options === null)
    throw new TrainingError('train: options', {
      expected: '{ steps, … }',
      received: describeValue(options),
      fix: 'pass at least the number of steps',
    });
  checkArchitecture(arch);
  check('steps', options.steps, Number.isInteger(options.steps) && options.steps > 0, 'an integer > 0');
  const batch = options.batchSize ?? 16;
  const peak = options.learningRate ?? 3e-3;
  check('batch', batch, Number.isInteger(batch) && batch > 0, 'an integer > 0');
  check('lr', peak, peak > 0 && Number.isFinite(peak), 'a learning rate > 0');
  const normFirst = arch.normFirst ?? true;
  let controls: ControlBasis | undefined;
  if (options.controls !== undefined) {
    const c = options.controls as Partial<ControlBasis> | null;
    const K = c?.coefficients;
    if (
      c?.basis !== 'legendre' ||
      !Number.isInteger(K) ||
      (K as number) < 1 ||
      (K as number) > MAX_CONTROL_COEFFICIENTS
    )
      throw new TrainingError('train: controls', {
        expected: `{ basis: 'legendre', coefficients: K } with K an integer from 1 to ${MAX_CONTROL_COEFFICIENTS}`,
        received:
          typeof c === 'object' && c !== null ? `${describeValue(c.basis)}:${describeValue(K)}` : describeValue(c),
        fix: 'pass --controls legendre:K, e.g. legendre:4',
      });
    if (!normFirst)
      throw new TrainingError('train: controls', {
        expected: 'pre-LN layers (a smooth field u_t = G(u, θ(t)))',
        received: 'post-LN layers (--norm-first false): projections, whose splitting is no refinement',
        fix: 'train smooth controls with --norm-first true',
      });
    controls = { basis: 'legendre', coefficients: K as number };
  }
  const schedule = options.schedule ?? 'piecewise';
  if (schedule !== 'piecewise' && schedule !== 'linear')
    throw new TrainingError('train: schedule', {
      expected: "'piecewise' or 'linear'",
      received: describeValue(schedule),
      fix: 'pass --schedule piecewise|linear',
    });
  let schemes: SchemeChoice[];
  if (options.schemes !== undefined) {
    if (options.scheme !== undefined || options.stepsPerLayer !== undefined)
      throw new TrainingError('train: schemes', {
        expected: 'either schemes or scheme / stepsPerLayer',
        received: `schemes and scheme ${describeValue(options.scheme)} / stepsPerLayer ${describeValue(options.stepsPerLayer)}`,
        fix: 'list every scheme in --schemes (e.g. rk4:1,rk4:2) and leave --scheme and --steps-per-layer out',
      });
    if (!Array.isArray(options.schemes) || options.schemes.length === 0 || options.schemes.length > 64)
      throw new TrainingError('train: schemes', {
        expected: 'a list of 1 to 64 scheme:k choices',
        received: describeValue(options.schemes),
        fix: 'pass --schemes rk4:1,rk4:2,heun:2',
      });
    schemes = options.schemes.map((c) => checkChoice('--schemes', c, schedule, controls, normFirst));
  } else {
    const scheme = options.scheme ?? (controls !== undefined ? 'rk4' : 'lie');
    schemes = [
      checkChoice('--scheme', { scheme, stepsPerLayer: options.stepsPerLayer ?? 1 }, schedule, controls, normFirst),
    ];
  }
  const kineticWeight = weight('--kinetic', options.kineticWeight);
  const fineWeight = weight('--fine-weight', options.fineWeight);
  const controlWeight = weight('--control-energy', options.controlWeight);
  if (options.fine !== undefined && fineWeight === 0)
    throw new TrainingError('train: --fine', {
      expected: 'a --fine-weight w > 0 with --fine',
      received: `--fine ${describeChoice(options.fine)} without a weight`,
      fix: 'pass --fine-weight w (e.g. 1), or leave --fine out',
    });
  const fine =
    fineWeight > 0 ? checkChoice('--fine', options.fine ?? DEFAULT_FINE, schedule, controls, normFirst) : undefined;
  if (controlWeight > 0 && controls === undefined)
    throw new TrainingError('train: --control-energy', {
      expected: 'smooth controls (a discrete θ jumps between layers: its ∫‖θ′‖² is infinite)',
      received: `--control-energy ${controlWeight} without --controls`,
      fix: 'pass --controls legendre:K with --control-energy',
    });
  if (options.initFrom !== undefined) checkInitFrom(options.initFrom, arch, controls, alphabet);
  return {
    schemes,
    schedule,
    ...(controls !== undefined && { controls }),
    kineticWeight,
    ...(fine !== undefined && { fine }),
    fineWeight,
    controlWeight,
  };
}

/**
 * A warm start (see {@link TrainOptions.initFrom}): the source's embeddings and final norm copied; with `controls`
 * (and a discrete source) the coefficients fitted so that θ(i + ½) = layer i (`fitLegendre`, least squares, exact
 * for K = L); else its layers (or coefficients) copied. The source is not changed; the result's variables are new.
 * `trainLanguageModel` calls it for `initFrom` after {@link checkTrainOptions} has checked the sizes.
 */
export function warmStart(
  source: TransformerModel,
  alphabet: string,
  controls: ControlBasis | undefined,
): TrainableModel {
  const L = source.config.numLayers;
  const copy = <T extends object>(tree: T): T => mapTree(tree, (t) => tf.clone(t));
  const made: object[] = [];
  try {
    const layers: LayerParameters[] =
      controls !== undefined && source.config.controls === undefined
        ? fitLegendre(
            {
              times: source.parameters.layers.map((_, i) => i + 0.5),
              values: source.parameters.layers,
            },
            controls.coefficients,
            { span: [0, L] },
          )
        : source.parameters.layers.map((l) => copy(l));
    made.push(layers);
    const embeddings = copy(source.parameters.embeddings!);
    made.push(embeddings);
    const finalNorm = source.parameters.finalNorm && copy(source.parameters.finalNorm);
    const { controls: _sourceControls, ...rest } = source.config;
    const config: ModelConfig = {
      ...rest,
      tokenizer: { type: 'chars', alphabet },
      ...(controls !== undefined && { controls }),
    };
    const parameters: ModelParameters = { layers, embeddings, ...(finalNorm && { finalNorm }) };
    return asVariables(transformerModel(config, parameters, `warm start from ${source.source}`));
  } catch (error) {
    for (const tree of made) tf.dispose([...flattenTree(tree).values()]);
    throw error;
  }
}

/** Trains a character-level language model on `corpus` (or continues the run in `options.outDir`). */
export function trainLanguageModel(corpus: Corpus, arch: Architecture, options: TrainOptions): TrainResult {
  const checked = checkTrainOptions(arch, options, corpus?.alphabet);
  const batch = options.batchSize ?? 16;
  const peak = options.learningRate ?? 3e-3;
  const warmup = options.warmup ?? Math.min(100, Math.floor(options.steps / 10));
  const seed = options.seed ?? 0;
  const evalEvery = options.evalEvery ?? 100;
  const evalBatches = options.evalBatches ?? 8;
  const { schemes, schedule, controls } = checked;
  const recommended = schemes[0]!;
  const coarse = (choice: SchemeChoice): LossOptions => ({
    scheme: choice.scheme,
    stepsPerLayer: choice.stepsPerLayer,
    schedule,
    kineticWeight: checked.kineticWeight,
    ...(checked.fine !== undefined && { fine: checked.fine, fineWeight: checked.fineWeight }),
    controlWeight: checked.controlWeight,
  });
  const evaluation: DiscretisationOptions = { ...recommended, schedule };
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
    const found = model.config.controls?.coefficients;
    if (found !== controls?.coefficients) {
      model.dispose();
      throw new TrainingError(`train --resume: ${options.outDir}`, {
        expected:
          controls === undefined ? 'a discrete checkpoint' : `smooth controls with K = ${controls.coefficients}`,
        received: found === undefined ? 'a discrete checkpoint' : `smooth controls with K = ${found}`,
        fix: 'resume with the --controls of the run',
      });
    }
    start = meta['step'] as number;
    history = meta['history'] as typeof history;
  } else if (options.initFrom !== undefined) {
    ({ model, variables, decay } = warmStart(options.initFrom, corpus.alphabet, controls));
  } else {
    ({ model, variables, decay } = initLanguageModel(arch, corpus.alphabet, seed, controls));
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
        const l = languageModelLoss(model, inputs, targets, evaluation);
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
          // The scheme recommended for inference first (what it was trained and validated with), then the rest of
          // the run's settings, informational.
          tide: {
            scheme: recommended.scheme,
            stepsPerLayer: recommended.stepsPerLayer,
            ...(controls === undefined && { schedule }),
            trainedSteps: step,
            norm_first: model.config.normFirst,
            ...(schemes.length > 1 && { schemes: schemes.map(describeChoice) }),
            ...(checked.fine !== undefined && { fine: describeChoice(checked.fine), fineWeight: checked.fineWeight }),
            ...(checked.controlWeight > 0 && { controlWeight: checked.controlWeight }),
            ...(checked.kineticWeight > 0 && { kineticWeight: checked.kineticWeight }),
            ...(options.initFrom !== undefined && !options.resume && { initFrom: options.initFrom.source }),
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
        `${JSON.stringify({ step, history, options: { ...options, onProgress: undefined, initFrom: options.initFrom?.source }, arch }, null, 1)}\n`,
      );
    };
    const t0 = performance.now();
    let last = NaN;
    let smoothed = NaN;
    const end = Math.min(options.steps, options.stopAfter ?? options.steps);
    for (let step = start; step < end; step++) {
      const random = seededRandom(seed * 1_000_033 + step);
      const { inputs, targets } = sampleBatch(corpus.train, batch, context, random);
      // The batch's scheme, drawn by the batch's own generator (after its windows): the same on a resumed run.
      const choice = schemes.length === 1 ? recommended : schemes[Math.floor(random() * schemes.length)]!;
      const lr = warmupCosine(step, peak, warmup, options.steps);
      let kinetic = 0;
      let fineDivergence = 0;
      let controlEnergy = 0;
      const { value, grads } = tf.variableGrads(() => {
        const l = languageModelLoss(model, inputs, targets, coarse(choice));
        if (checked.kineticWeight > 0) kinetic = l.kinetic.dataSync()[0]!;
        if (l.fineDivergence !== undefined) fineDivergence = l.fineDivergence.dataSync()[0]!;
        if (l.controlEnergy !== undefined) controlEnergy = l.controlEnergy.dataSync()[0]!;
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
        ...(checked.kineticWeight > 0 && { kinetic }),
        scheme: choice,
        ...(checked.fineWeight > 0 && { fineDivergence }),
        ...(checked.controlWeight > 0 && { controlEnergy }),
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
