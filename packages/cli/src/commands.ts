/**
 * The actions of the `tide` commands (docs/checkpoints.md for the file contract). `cli.ts` parses the command
 * line with commander and loads this module only when a command runs, so that `tide --help` never loads the
 * tfjs engine. Each action turns files into tensors and flags into library options; the library checks them.
 */
import { existsSync, lstatSync, readFileSync, realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CommanderError } from 'commander';
import { attentionPath, blockedThreshold } from '@tide/attention';
import { TideError, flattenTree, initEngine, tf, type BackendName } from '@tide/backend';
import { CheckpointError, tokenizerFor } from '@tide/formats';
import { checkRegularFile, readSafetensorsFile } from '@tide/formats/node';
import {
  DiscretisationError,
  forward,
  generate,
  recommendedDiscretisation,
  isLanguageModel,
  type DiscretisationOptions,
  type ForwardBudget,
  type ForwardInput,
  type SchemeName,
  type TransformerModel,
} from '@tide/transformer';
import { loadCheckpoint } from '@tide/transformer/node';
import { VisionDiscretisationError } from '@tide/vision';
import { loadVisionCheckpoint } from '@tide/vision/node';
import { writeForwardOutput } from './forward-output.js';
import { checkShapesModel, runImageStudy } from './image-study.js';
import { progressReporter } from './progress.js';
import {
  describeVisionModel,
  isVisionFolder,
  visionForwardCommand,
  visionInspectCommand,
  visionTrainCommand,
  type TrainVisionFlags,
} from './vision-commands.js';
import type { CliIO } from './cli.js';

/** The discretisation flags (passed to the library unchanged: it checks them and owns the defaults). */
export interface DiscretisationFlags {
  /** Load checkpoints with tensors the layout does not use (they are listed in the error otherwise). */
  readonly allowUnused?: boolean;
  readonly scheme?: string;
  readonly stepsPerLayer?: number;
  readonly schedule?: string;
  /** Adaptive steps: the tolerances (schemes dopri5, bosh3). */
  readonly rtol?: number;
  readonly atol?: number;
  /** Budget flags: GiB of tensors and GFLOP of work. */
  readonly maxMemory?: number;
  readonly maxWork?: number;
}

/** The budget flags as the library's budget (absent flags: the library's defaults). */
function budget(flags: DiscretisationFlags): ForwardBudget {
  return {
    ...(flags.maxMemory !== undefined && { maxBytes: flags.maxMemory * 2 ** 30 }),
    ...(flags.maxWork !== undefined && { maxFlops: flags.maxWork * 1e9 }),
  };
}

/**
 * Refuses an output path that would clobber something: an existing path that is not a regular file (a
 * directory, a device such as /dev/null, a FIFO, a symlink), or one of the command's own inputs. The output is
 * then written atomically (a temporary file renamed over it).
 */
function checkOutputPath(output: string, inputs: readonly string[]): void {
  let stat;
  try {
    stat = lstatSync(output);
  } catch {
    stat = undefined; // does not exist yet: fine (its folder is checked when writing)
  }
  if (stat !== undefined && !stat.isFile()) {
    const kind = stat.isSymbolicLink()
      ? 'a symbolic link'
      : stat.isDirectory()
        ? 'a directory'
        : 'a device, FIFO or socket';
    throw new CheckpointError(output, {
      expected: 'a new file or an existing regular file to replace',
      received: kind,
      fix: 'choose another --output path',
    });
  }
  const resolved = (p: string) => {
    try {
      return realpathSync(p);
    } catch {
      return resolve(p);
    }
  };
  const target = resolved(output);
  const clash = inputs.find((p) => resolved(p) === target);
  if (clash !== undefined) {
    throw new CheckpointError(output, {
      expected: 'an output path that is not one of the inputs',
      received: `the same file as ${clash}`,
      fix: 'write the output somewhere else',
    });
  }
}

/**
 * Flags as library options: an absent flag takes the library's default, except that with a model and no
 * `--scheme` (nor a tolerance) the model's recommended discretisation (what it was trained with) is the default —
 * its scheme, and its steps unless `--steps-per-layer` is given (for a network recommending `exact`, steps
 * given mean Lie with that many steps, as before).
 */
function discretisation(flags: DiscretisationFlags, model?: TransformerModel): DiscretisationOptions {
  // Without --scheme (and without a tolerance), the model's recommended scheme; its steps too unless given.
  const recommended =
    model !== undefined && flags.scheme === undefined && flags.rtol === undefined && flags.atol === undefined
      ? recommendedDiscretisation(model)
      : undefined;
  return {
    ...(recommended !== undefined && { scheme: recommended.scheme, stepsPerLayer: recommended.stepsPerLayer }),
    ...(recommended?.scheme === 'exact' && flags.stepsPerLayer !== undefined && { scheme: 'lie' as SchemeName }),
    ...(flags.scheme !== undefined && { scheme: flags.scheme as SchemeName }),
    ...(flags.stepsPerLayer !== undefined && { stepsPerLayer: flags.stepsPerLayer }),
    ...(flags.schedule !== undefined && { schedule: flags.schedule as 'piecewise' | 'linear' }),
    ...((flags.rtol !== undefined || flags.atol !== undefined) && {
      tolerance: { rtol: flags.rtol ?? flags.atol!, ...(flags.atol !== undefined && { atol: flags.atol }) },
    }),
  };
}

/**
 * The one line and exit code of a failed command: a TIDE error says what was expected, what arrived and the
 * fix (exit 1; 2 for a discretisation flag the library refuses, a usage error); anything else is unexpected.
 */
export function describeFailure(error: unknown): { message: string; exitCode: number } {
  if (error instanceof TideError)
    return {
      message: error.message,
      exitCode: error instanceof DiscretisationError || error instanceof VisionDiscretisationError ? 2 : 1,
    };
  return { message: `unexpected error: ${(error as Error)?.message ?? String(error)}`, exitCode: 1 };
}

/** Starts the engine on `backend` (checked by the CLI against the names it lists); returns its name. */
async function startEngine(
  flags: { readonly backend?: string; readonly threads?: number },
  gradients = false,
): Promise<string> {
  // Only training differentiates; the other commands skip registering gradients (about 0.5 s in Node).
  const info = await initEngine({
    backend: (flags.backend ?? 'auto') as BackendName | 'auto',
    gradients,
    ...(flags.threads !== undefined && { threads: flags.threads }),
  });
  return info.threads > 1 ? `${info.backend} (${info.threads} threads)` : info.backend;
}

/**
 * Turns a forward input file into library inputs: `input_ids` (integers) for language models, `input` (floats)
 * and optional `token_weights` for encoders. Only the file's own structure is checked here; values (vocabulary,
 * context length, widths, finiteness) are checked once, by the library, with the file named as the source.
 */
function readForwardInput(file: string, model: TransformerModel): ForwardInput & { dispose(): void } {
  const name = isLanguageModel(model) ? 'input_ids' : 'input';
  // Other tensors in the file are validated from its header but not decoded.
  const read = readSafetensorsFile(file, 'an input .safetensors file', { only: [name, 'token_weights'] });
  const tensors = read.tensors;
  const t = tensors.get(name);
  const found = read.names.slice(0, 8).join(', ') || 'none';
  if (t === undefined)
    throw new CheckpointError(`${file}: tensor "${name}"`, {
      expected: isLanguageModel(model)
        ? 'int32/int64 token ids [B, N] for a language model'
        : `float32 hidden states [B, N, ${model.config.dModel}]`,
      received: `no such tensor (found: ${found})`,
      fix: `name the tensor ${name}`,
    });
  const integers = t.data instanceof Int32Array;
  if (integers !== isLanguageModel(model))
    throw new CheckpointError(`${file}: tensor "${name}"`, {
      expected: isLanguageModel(model) ? 'an integer dtype (I32 or I64)' : 'a float dtype (F32, F16, BF16 or F64)',
      received: t.dtype,
      fix: isLanguageModel(model) ? 'store token ids as integers' : 'store hidden states as floats',
    });
  const source = `${file}: tensor "${name}"`;
  const made = integers ? tf.tensor(t.data, [...t.shape], 'int32') : tf.tensor(t.data, [...t.shape], 'float32');
  const w = tensors.get('token_weights');
  let tokenWeights: number[][] | undefined;
  if (w !== undefined) {
    if (w.shape.length !== 2 || w.shape[0] !== t.shape[0] || w.shape[1] !== t.shape[1]) {
      made.dispose();
      throw new CheckpointError(`${file}: tensor "token_weights"`, {
        expected: `[${t.shape[0]}, ${t.shape[1]}]`,
        received: `[${w.shape.join(', ')}]`,
        fix: 'one weight per token (0 = padding)',
      });
    }
    tokenWeights = Array.from({ length: w.shape[0]! }, (_, b) =>
      Array.from(w.data.subarray(b * w.shape[1]!, (b + 1) * w.shape[1]!)),
    );
  }
  const input = integers ? { inputIds: made as tf.Tensor2D } : { input: made as tf.Tensor3D };
  return { ...input, source, ...(tokenWeights && { tokenWeights }), dispose: () => made.dispose() };
}

/** `tide forward`: one solve of a checkpoint on an input file, written atomically. */
export async function commandForward(
  flags: DiscretisationFlags & { model: string; input: string; output: string; backend?: string },
  io: CliIO,
): Promise<void> {
  checkOutputPath(flags.output, [
    flags.input,
    join(flags.model, 'model.safetensors'),
    join(flags.model, 'config.json'),
  ]);
  const backend = await startEngine(flags);
  if (isVisionFolder(flags.model)) return visionForwardCommand(flags, backend, io);
  const model = loadCheckpoint(flags.model, { allowUnusedTensors: flags.allowUnused === true });
  let input: (ForwardInput & { dispose(): void }) | undefined;
  try {
    input = readForwardInput(flags.input, model);
    const t0 = performance.now();
    const result = forward(model, input, { ...discretisation(flags, model), budget: budget(flags) });
    const data = result.output.dataSync();
    const shape = result.output.shape;
    tf.dispose(result.output);
    writeForwardOutput(flags.output, { output: { dtype: 'F32', shape, data } }, result.description);
    io.out(
      `tide forward: ${result.description} on ${backend}: output [${shape.join(', ')}] → ${flags.output} (${(performance.now() - t0).toFixed(0)} ms, ${result.stats.subSteps} sub-steps)`,
    );
  } finally {
    input?.dispose();
    model.dispose();
  }
}

async function promptIds(
  flags: { prompt?: string; ids?: number[] },
  model: TransformerModel,
): Promise<{ ids: number[]; decode?: (ids: number[]) => string }> {
  const tokenizer = await tokenizerFor(model.config);
  if (flags.ids !== undefined)
    return { ids: flags.ids, ...(tokenizer && { decode: (x: number[]) => tokenizer.decode(x) }) };
  const prompt = flags.prompt!;
  if (tokenizer === undefined)
    throw new CheckpointError('prompt', {
      expected: 'a model that declares a tokenizer (GPT-2 vocabulary or tide_tokenizer)',
      received: 'a model without one',
      fix: 'pass token ids with --ids',
    });
  return { ids: tokenizer.encode(prompt), decode: (x: number[]) => tokenizer.decode(x) };
}

/** `tide generate`: autoregressive generation from a prompt (text, or token ids). */
export async function commandGenerate(
  flags: DiscretisationFlags & {
    model: string;
    prompt?: string;
    ids?: number[];
    tokens: number;
    temperature: number;
    topK?: number;
    seed: number;
    backend?: string;
  },
  io: CliIO,
): Promise<void> {
  await startEngine(flags);
  const model = loadCheckpoint(flags.model, { allowUnusedTensors: flags.allowUnused === true });
  try {
    const { ids, decode } = await promptIds(flags, model);
    const out = generate(model, ids, {
      ...discretisation(flags, model),
      maxNewTokens: flags.tokens,
      temperature: flags.temperature,
      ...(flags.topK !== undefined && { topK: flags.topK }),
      seed: flags.seed,
      budget: budget(flags),
    });
    io.out(decode ? decode([...ids, ...out]) : [...ids, ...out].join(','));
  } finally {
    model.dispose();
  }
}

/** `tide inspect`: what a checkpoint holds and how it maps onto the continuous model. */
export async function commandInspect(
  flags: { model: string; backend?: string; allowUnused?: boolean },
  io: CliIO,
): Promise<void> {
  await startEngine(flags);
  if (isVisionFolder(flags.model)) return visionInspectCommand(flags, io);
  const model = loadCheckpoint(flags.model, { allowUnusedTensors: flags.allowUnused === true });
  try {
    io.out(describeModel(model, flags.model).join('\n'));
  } finally {
    model.dispose();
  }
}

/** What a checkpoint holds and how it maps onto the continuous model. */
export function describeModel(model: TransformerModel, dir: string): string[] {
  const c = model.config;
  const params = [...flattenTree(model.parameters).values()].reduce((s, t) => s + t.size, 0);
  const lines = [
    `${dir}: ${c.layout === 'gpt2' ? 'HF GPT-2' : 'PyTorch nn.TransformerEncoder'}, ${params.toLocaleString('en')} parameters`,
    `  feature domain Ω_y: d = ${c.dModel} (unit grid, |Ω_y| = ${c.dModel}); hidden domain d_ff = ${c.dFeedforward} (${c.dFeedforward === c.dModel ? 'no lift' : c.dFeedforward > c.dModel ? 'lifted by zero-extension E' : 'restricted by R'})`,
    `  token domain Ω_x: the standard grid of N tokens (unit weights)${c.causal ? ', causal sub-domain x̃ ≤ x' : ''}${c.positions ? `, N ≤ ${c.positions}` : ''}`,
    c.controls === undefined
      ? `  depth: T = ${c.numLayers} (one unit of time per layer), θ(t) piecewise constant`
      : `  depth: T = ${c.numLayers}, θ(t) smooth: ${c.controls.coefficients} Legendre coefficients per parameter (θ(t) = Σ_k c_k P_k(2t/T − 1))`,
    ...(c.recommended !== undefined
      ? [`  recommended discretisation: ${c.recommended.scheme}, ${c.recommended.stepsPerLayer} step(s) per unit time`]
      : []),
    `  heads: ${c.heads} (d_k = ${c.dModel / c.heads}), scale 1/√d_k`,
    c.normFirst
      ? `  pre-LN: u_t = A(P₁u) + F(P₂u), P = affine ∘ P^ε (ε = ${c.epsilon}); exact scheme = Lie splitting with explicit Euler, Δt = 1${c.finalNorm ? '; final projection LN_f at t = T' : ''}`
      : `  post-LN: Lie splitting, Δt = 1: attention (explicit) → P₁^ε → affine → FFN₁ (${c.activation === 'relu' ? 'semi-implicit, ReLU = P_{S₂}' : 'explicit, then GELU'}) → FFN₂ (explicit) → relaxation ½ → P₂^{ε/4} → affine (ε = ${c.epsilon})`,
    `  activation: ${c.activation}${c.tokenizer ? `; tokenizer: ${c.tokenizer.type === 'gpt2' ? 'GPT-2 BPE' : `${[...c.tokenizer.alphabet].length} characters`}` : ''}`,
  ];
  return lines;
}

/** How `'auto'` integral attention evaluates on the active backend (read off `attentionPath`), for the run summary. */
function attentionChoice(): string {
  const threshold = blockedThreshold();
  const [below, above] = [attentionPath({}, threshold), attentionPath({}, threshold + 1)];
  if (below === above) return `attention ${above}`;
  return `attention ${below} up to ${threshold} tokens, ${above === 'blocked' ? 'query-blocked' : above} beyond`;
}

/** `tide run`: the study on a model (the embedded default unless `--model`), with its report. */
export async function commandRun(
  flags: {
    model?: string;
    defaultModel: string;
    /** A model with smooth controls to study beside the default (anytime depth); its folder holds heldout.txt. */
    continuousModel?: string;
    /** The embedded continuous model, studied beside the embedded default when no --model or --continuous-model is given. */
    defaultContinuousModel?: string;
    /** An image classifier for the image part (default: the embedded shapes ViT, when it is shipped). */
    imageModel?: string;
    defaultImageModel?: string;
    prompt: string;
    tokens: number;
    report: string;
    backend?: string;
  },
  io: CliIO,
): Promise<void> {
  const backend = await startEngine(flags);
  const dir = flags.model ?? flags.defaultModel;
  // The image model is loaded and checked first, so that a wrong one fails before the text part runs.
  const imageDir = flags.imageModel ?? flags.defaultImageModel;
  const withImages =
    imageDir !== undefined && (flags.imageModel !== undefined || existsSync(join(imageDir, 'config.json')));
  const imageModel = withImages ? loadVisionCheckpoint(imageDir!) : undefined;
  let model: TransformerModel | undefined;
  try {
    if (imageModel !== undefined) checkShapesModel(imageModel);
    model = loadCheckpoint(dir);
    const tokenizer = await tokenizerFor(model.config);
    if (tokenizer === undefined)
      throw new CheckpointError(dir, {
        expected: 'a model that declares a tokenizer',
        received: 'a model without one',
        fix: 'tide run needs text; use tide forward for id inputs',
      });
    const summary = [
      `tide: engine ${backend}, ${attentionChoice()}; model ${flags.model !== undefined ? dir : 'embedded default'}`,
      ...describeModel(model, flags.model !== undefined ? dir : 'models/default'),
    ];
    for (const line of summary) io.out(line);
    const t0 = performance.now();
    const { runStudy } = await import('./study.js');
    const { writeReport } = await import('./report.js');
    const progress = progressReporter(io, 'tide run');
    let study;
    try {
      study = runStudy(model, tokenizer, {
        prompt: flags.prompt,
        tokens: flags.tokens,
        title: 'TIDE: a Transformer solved as an integro-differential equation',
        summary,
        onProgress: (p) => progress.update(p.done, p.total, p.stage, false),
      });
    } finally {
      progress.stop();
    }
    for (const line of study.lines) io.out(line);
    let report = study.report;
    const continuousDir =
      flags.continuousModel ??
      (flags.model === undefined &&
      flags.defaultContinuousModel !== undefined &&
      existsSync(join(flags.defaultContinuousModel, 'config.json'))
        ? flags.defaultContinuousModel
        : undefined);
    if (continuousDir !== undefined) {
      // Anytime depth: the default model beside the one trained for its continuum (docs/continuous-depth.md).
      const continuous = loadCheckpoint(continuousDir);
      const depthProgress = progressReporter(io, 'tide run: anytime depth');
      try {
        const { runDepthStudy } = await import('./depth-study.js');
        if (JSON.stringify(continuous.config.tokenizer) !== JSON.stringify(model.config.tokenizer))
          throw new CheckpointError(`${continuousDir}: config.json`, {
            expected: 'the tokenizer of the model it is studied beside (both read the same text)',
            received: `${continuous.config.tokenizer?.type ?? 'no'} tokenizer, against ${model.config.tokenizer?.type ?? 'none'}`,
            fix: 'train the continuous model on the same alphabet (tide train --init-from the default model)',
          });
        const heldOutFile = join(continuousDir, 'heldout.txt');
        checkRegularFile(
          heldOutFile,
          'the held-out text of --continuous-model (heldout.txt)',
          'put held-out text (validation data the model did not train on) in heldout.txt beside its config.json',
        );
        const heldOutText = readFileSync(heldOutFile, 'utf8');
        let stage = 0;
        const depth = runDepthStudy(model, continuous, {
          ids: tokenizer.encode(study.report.text.prompt + study.report.text.generated),
          heldOut: tokenizer.encode(heldOutText),
          onProgress: (label) => depthProgress.update(++stage, 7, label, false),
        });
        depthProgress.stop();
        for (const line of depth.lines) io.out(line);
        report = { ...report, depth: depth.report };
      } finally {
        depthProgress.stop();
        continuous.dispose();
      }
    }
    if (imageModel !== undefined) {
      // The image part (docs/image-models.md): a ViT on held-out pictures at its resolution and at 1.5×.
      io.out(
        `\nimages: ${flags.imageModel ?? 'the embedded shapes ViT'} (${describeVisionModel(imageModel, imageDir!)[0]!.split(': ')[1]})`,
      );
      const images = runImageStudy(imageModel);
      for (const line of images.table) io.out(line);
      report = { ...report, images };
    }
    const index = await writeReport(flags.report, report);
    io.out(
      `\nreport: ${index} (attention kernels, trajectories over depth, constraint distances, measured orders${report.depth ? ', anytime depth' : ''}${report.images ? ', image kernels' : ''}); total ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
  } finally {
    model?.dispose();
    imageModel?.dispose();
  }
}

function formatSeconds(s: number): string {
  return s >= 60 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${s.toFixed(0)}s`;
}

/** The flags of `tide train`. */
export interface TrainFlags extends DiscretisationFlags {
  readonly data: string;
  readonly out: string;
  /** Architecture flags: absent ones default to the --init-from model's, else to the documented defaults. */
  readonly normFirst?: boolean;
  readonly steps: number;
  readonly batch: number;
  readonly context?: number;
  readonly dModel?: number;
  readonly heads?: number;
  readonly layers?: number;
  readonly dFf?: number;
  readonly lr: number;
  readonly warmup?: number;
  readonly weightDecay: number;
  readonly kinetic: number;
  readonly evalEvery: number;
  readonly checkpointEvery: number;
  readonly stopAfter?: number;
  readonly seed: number;
  readonly resume: boolean;
  readonly backend?: string;
  /** `--controls legendre:K`, `--init-from DIR`, `--schemes rk4:1,rk4:2`, `--fine rk4:4`, `--fine-weight w`, `--control-energy λ`. */
  readonly controls?: { readonly basis: string; readonly coefficients: number };
  readonly initFrom?: string;
  readonly schemes?: readonly { readonly scheme: string; readonly stepsPerLayer: number }[];
  readonly fine?: { readonly scheme: string; readonly stepsPerLayer: number };
  readonly fineWeight?: number;
  readonly controlEnergy?: number;
}

/** `tide train`: a character-level language model trained through the solver. */
export async function commandTrain(flags: TrainFlags, io: CliIO): Promise<void> {
  const disc = discretisation(flags);
  const backend = await startEngine(flags, true);
  checkRegularFile(flags.data, 'a UTF-8 text file to train on', 'pass --data FILE (e.g. data/moby-dick.txt)');
  const { characterCorpus, checkTrainOptions, trainLanguageModel, TrainingError } = await import('@tide/train');
  const corpus = characterCorpus(readFileSync(flags.data, 'utf8'));
  const source = flags.initFrom === undefined ? undefined : loadCheckpoint(flags.initFrom);
  try {
    // Architecture flags left out take the --init-from model's sizes (d_ff too, unless --d-model is given), else the
    // defaults the help lists; the library checks that the warm start has the sizes of the model to train.
    const c = source?.config;
    const dFeedforward = flags.dFf ?? (flags.dModel === undefined ? c?.dFeedforward : undefined);
    const arch = {
      dModel: flags.dModel ?? c?.dModel ?? 64,
      heads: flags.heads ?? c?.heads ?? 4,
      layers: flags.layers ?? c?.numLayers ?? 4,
      contextLength: flags.context ?? c?.positions ?? 64,
      normFirst: flags.normFirst ?? c?.normFirst ?? true,
      ...(dFeedforward !== undefined && { dFeedforward }),
    };
    const options = {
      ...disc,
      steps: flags.steps,
      outDir: flags.out,
      resume: flags.resume,
      batchSize: flags.batch,
      learningRate: flags.lr,
      weightDecay: flags.weightDecay,
      kineticWeight: flags.kinetic,
      seed: flags.seed,
      evalEvery: flags.evalEvery,
      checkpointEvery: flags.checkpointEvery,
      ...(flags.stopAfter !== undefined && { stopAfter: flags.stopAfter }),
      ...(flags.warmup !== undefined && { warmup: flags.warmup }),
      // Passed through unchanged: the library checks the basis, the scheme names and every k.
      ...(flags.controls !== undefined && { controls: flags.controls as { basis: 'legendre'; coefficients: number } }),
      ...(source !== undefined && { initFrom: source }),
      ...(flags.schemes !== undefined && {
        schemes: flags.schemes as readonly { scheme: SchemeName; stepsPerLayer: number }[],
      }),
      ...(flags.fine !== undefined && { fine: flags.fine as { scheme: SchemeName; stepsPerLayer: number } }),
      ...(flags.fineWeight !== undefined && { fineWeight: flags.fineWeight }),
      ...(flags.controlEnergy !== undefined && { controlWeight: flags.controlEnergy }),
    };
    // Options the library refuses are usage errors (exit 2), one line each; a run that fails later is exit 1.
    let checked;
    try {
      checked = checkTrainOptions(arch, options, corpus.alphabet);
    } catch (error) {
      if (error instanceof TrainingError) throw new CommanderError(2, 'tide.train', error.message);
      throw error;
    }
    const described = checked.schemes.map((s) => `${s.scheme}:${s.stepsPerLayer}`).join(', ');
    io.out(
      `tide train: ${corpus.train.length.toLocaleString('en')} training and ${corpus.validation.length.toLocaleString('en')} validation characters from ${flags.data}; ${backend}; ${checked.schemes.length > 1 ? `schemes ${described} (one per batch)` : `${checked.schemes[0]!.scheme} scheme, ${checked.schemes[0]!.stepsPerLayer} step(s) per layer`}${checked.controls !== undefined ? `; smooth controls, ${checked.controls.coefficients} Legendre coefficients` : ''}${checked.fine !== undefined ? `; fine ${checked.fine.scheme}:${checked.fine.stepsPerLayer} × ${checked.fineWeight}` : ''}${source !== undefined && !flags.resume ? `; warm start from ${flags.initFrom}` : ''}`,
    );
    const progress = progressReporter(io, 'tide train');
    let result;
    try {
      result = trainLanguageModel(corpus, arch, {
        ...options,
        onProgress: (p) => {
          const terms = `${p.fineDivergence !== undefined ? ` kl ${p.fineDivergence.toFixed(3)}` : ''}${p.controlEnergy !== undefined ? ` energy ${p.controlEnergy.toExponential(2)}` : ''}`;
          const text = `loss ${p.loss.toFixed(3)}${p.validationLoss !== undefined ? ` val ${p.validationLoss.toFixed(3)}` : ''}${terms} lr ${p.learningRate.toExponential(1)} ${p.tokensPerSecond.toFixed(0)} tok/s ${formatSeconds(p.elapsedSeconds)} elapsed`;
          progress.update(p.step, p.steps, text, p.validationLoss !== undefined || p.step === p.steps);
        },
      });
    } finally {
      progress.stop();
    }
    io.out(
      `tide train: done in ${formatSeconds(result.seconds)}; train loss ${result.trainLoss.toFixed(4)}, validation loss ${result.validationLoss.toFixed(4)} (nats/char); checkpoint in ${flags.out}`,
    );
    result.model.dispose();
  } finally {
    source?.dispose();
  }
}

/** `tide train-vision`: a ViT trained on the shapes task (see vision-commands.ts). */
export async function commandTrainVision(flags: TrainVisionFlags, io: CliIO): Promise<void> {
  const backend = await startEngine(flags, true);
  await visionTrainCommand(flags, backend, io);
}
