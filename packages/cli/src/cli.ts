/**
 * The `tide` command line (docs/checkpoints.md).
 *
 *   tide [run]      the main job: the embedded default model, generated text with the exact scheme, then
 *                   re-solved with refined schemes (how far the logits move, and the wall time of each)
 *   tide forward    --model DIR --input FILE --output FILE [--scheme S] [--steps-per-layer K] [--schedule piecewise|linear] [--backend B]
 *   tide generate   --model DIR (--prompt TEXT | --ids 1,2,3) [--tokens N] [--temperature T] [--top-k K] [--seed S] [--scheme S] [--steps-per-layer K]
 *   tide inspect    --model DIR
 *
 * Errors end with one line on stderr and a non-zero exit (1: bad input, 2: bad usage); `forward` writes its
 * output atomically (a temporary file renamed at the end), so nothing is left half-written.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { attentionPath, blockedThreshold } from '@tide/attention';
import { BACKEND_NAMES, TideError, flattenTree, initEngine, tf, type BackendName } from '@tide/backend';
import { CheckpointError, tokenizerFor, writeSafetensors } from '@tide/formats';
import { checkRegularFile, readSafetensorsFile, writeFileAtomic } from '@tide/formats/node';
import { DiscretisationError, SCHEME_NAMES, forward, generate, isLanguageModel, type DiscretisationOptions, type ForwardInput, type SchemeName, type TransformerModel } from '@tide/transformer';
import { loadCheckpoint } from '@tide/transformer/node';

/** Where the CLI writes. */
export interface CliIO {
  out(line: string): void;
  err(line: string): void;
}

/** The embedded default checkpoint shipped with the package. */
export const DEFAULT_MODEL_DIR = fileURLToPath(new URL('../models/default', import.meta.url));

class UsageError extends Error {}

const COMMANDS: Record<string, readonly string[]> = {
  run: ['model', 'prompt', 'tokens', 'report', 'backend'],
  forward: ['model', 'input', 'output', 'scheme', 'steps-per-layer', 'schedule', 'backend'],
  generate: ['model', 'prompt', 'ids', 'tokens', 'temperature', 'top-k', 'seed', 'scheme', 'steps-per-layer', 'schedule', 'backend'],
  inspect: ['model', 'backend'],
  train: ['data', 'out', 'norm-first', 'steps', 'batch', 'context', 'd-model', 'heads', 'layers', 'd-ff', 'lr', 'warmup', 'weight-decay', 'kinetic', 'eval-every', 'checkpoint-every', 'stop-after', 'seed', 'scheme', 'steps-per-layer', 'schedule', 'resume', 'backend'],
};

const HELP = `tide — Transformers as integro-differential equations

usage:
  tide [run] [--prompt TEXT] [--tokens N] [--model DIR] [--report DIR] [--backend B]
  tide forward --model DIR --input FILE --output FILE [--scheme S] [--steps-per-layer K] [--schedule piecewise|linear] [--backend B]
  tide generate --model DIR (--prompt TEXT | --ids 1,2,3) [--tokens N] [--temperature T] [--top-k K] [--seed S] [--scheme S] [--steps-per-layer K]
  tide inspect --model DIR
  tide train --data TEXT_FILE --out DIR [--norm-first true|false] [--steps N] [--batch B] [--context N] [--d-model D] [--heads H] [--layers L] [--lr 3e-3]
             [--warmup N] [--weight-decay 0.1] [--kinetic W] [--scheme S] [--steps-per-layer K] [--schedule piecewise|linear] [--stop-after N] [--resume true]

schemes: ${SCHEME_NAMES.join(', ')} (exact = the checkpoint: Lie splitting, one step per layer)
backends: auto, ${BACKEND_NAMES.join(', ')}`;

function parseArgs(argv: readonly string[]): { command: string; opts: Map<string, string> } {
  const args = [...argv];
  const command = args[0] !== undefined && !args[0].startsWith('-') ? args.shift()! : 'run';
  if (command === 'help') return { command: 'help', opts: new Map() };
  const allowed = COMMANDS[command];
  if (allowed === undefined) throw new UsageError(`unknown command "${command}": expected one of ${Object.keys(COMMANDS).join(', ')} (see tide --help)`);
  const opts = new Map<string, string>();
  while (args.length > 0) {
    const a = args.shift()!;
    if (a === '--help' || a === '-h') return { command: 'help', opts };
    if (!a.startsWith('--')) throw new UsageError(`unexpected argument "${a}": options are --name value`);
    const [name, inline] = a.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    if (!allowed.includes(name)) throw new UsageError(`tide ${command}: unknown option --${name}; expected one of ${allowed.map((o) => `--${o}`).join(', ')}`);
    const value = inline ?? args.shift();
    if (value === undefined || (inline === undefined && value.startsWith('--'))) throw new UsageError(`tide ${command}: option --${name} needs a value`);
    opts.set(name, value);
  }
  return { command, opts };
}

function required(opts: Map<string, string>, name: string, command: string): string {
  const v = opts.get(name);
  if (v === undefined) throw new UsageError(`tide ${command}: --${name} is required`);
  return v;
}

function integer(opts: Map<string, string>, name: string, fallback: number, min: number): number {
  const raw = opts.get(name);
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min) throw new UsageError(`--${name}: expected an integer ≥ ${min}, received "${raw}"`);
  return v;
}

/** The discretisation flags as library options, unchanged: the library checks them and owns the defaults. */
function discretisation(opts: Map<string, string>): DiscretisationOptions {
  return {
    ...(opts.has('scheme') && { scheme: opts.get('scheme') as SchemeName }),
    ...(opts.has('steps-per-layer') && { stepsPerLayer: integer(opts, 'steps-per-layer', 1, 1) }),
    ...(opts.has('schedule') && { schedule: opts.get('schedule') as 'piecewise' | 'linear' }),
  };
}

async function startEngine(opts: Map<string, string>): Promise<string> {
  const backend = opts.get('backend') ?? 'auto';
  if (backend !== 'auto' && !(BACKEND_NAMES as readonly string[]).includes(backend)) {
    throw new UsageError(`--backend: expected auto or one of ${BACKEND_NAMES.join(', ')}, received "${backend}"`);
  }
  const info = await initEngine({ backend: backend as BackendName | 'auto' });
  return info.backend;
}

/**
 * Turns a forward input file into library inputs: `input_ids` (integers) for language models, `input` (floats)
 * and optional `token_weights` for encoders. Only the file's own structure is checked here; values (vocabulary,
 * context length, widths, finiteness) are checked once, by the library, with the file named as the source.
 */
function readForwardInput(file: string, model: TransformerModel): ForwardInput & { dispose(): void } {
  const tensors = readSafetensorsFile(file, 'an input .safetensors file').tensors;
  const name = isLanguageModel(model) ? 'input_ids' : 'input';
  const t = tensors.get(name);
  const found = [...tensors.keys()].slice(0, 8).join(', ') || 'none';
  if (t === undefined) throw new CheckpointError(`${file}: tensor "${name}"`, { expected: isLanguageModel(model) ? 'int32/int64 token ids [B, N] for a language model' : `float32 hidden states [B, N, ${model.config.dModel}]`, received: `no such tensor (found: ${found})`, fix: `name the tensor ${name}` });
  const integers = t.data instanceof Int32Array;
  if (integers !== isLanguageModel(model)) throw new CheckpointError(`${file}: tensor "${name}"`, { expected: isLanguageModel(model) ? 'an integer dtype (I32 or I64)' : 'a float dtype (F32, F16, BF16 or F64)', received: t.dtype, fix: isLanguageModel(model) ? 'store token ids as integers' : 'store hidden states as floats' });
  const source = `${file}: tensor "${name}"`;
  const made = integers ? tf.tensor(t.data, [...t.shape], 'int32') : tf.tensor(t.data, [...t.shape], 'float32');
  const w = tensors.get('token_weights');
  let tokenWeights: number[][] | undefined;
  if (w !== undefined) {
    if (w.shape.length !== 2 || w.shape[0] !== t.shape[0] || w.shape[1] !== t.shape[1]) {
      made.dispose();
      throw new CheckpointError(`${file}: tensor "token_weights"`, { expected: `[${t.shape[0]}, ${t.shape[1]}]`, received: `[${w.shape.join(', ')}]`, fix: 'one weight per token (0 = padding)' });
    }
    tokenWeights = Array.from({ length: w.shape[0]! }, (_, b) => Array.from(w.data.subarray(b * w.shape[1]!, (b + 1) * w.shape[1]!)));
  }
  const input = integers ? { inputIds: made as tf.Tensor2D } : { input: made as tf.Tensor3D };
  return { ...input, source, ...(tokenWeights && { tokenWeights }), dispose: () => made.dispose() };
}

async function commandForward(opts: Map<string, string>, io: CliIO): Promise<void> {
  const modelDir = required(opts, 'model', 'forward');
  const inputFile = required(opts, 'input', 'forward');
  const outputFile = required(opts, 'output', 'forward');
  const disc = discretisation(opts);
  const backend = await startEngine(opts);
  const model = loadCheckpoint(modelDir);
  let input: (ForwardInput & { dispose(): void }) | undefined;
  try {
    input = readForwardInput(inputFile, model);
    const t0 = performance.now();
    const result = forward(model, input, disc);
    const data = result.output.dataSync();
    const shape = result.output.shape;
    tf.dispose(result.output);
    const bytes = writeSafetensors({ output: { dtype: 'F32', shape, data } }, { generator: 'tide forward', scheme: result.description });
    try {
      writeFileAtomic(outputFile, bytes);
    } catch (e) {
      throw new CheckpointError(outputFile, { expected: 'a writable output path', received: (e as Error).message, fix: 'check the folder exists and is writable' });
    }
    io.out(`tide forward: ${result.description} on ${backend}: output [${shape.join(', ')}] → ${outputFile} (${(performance.now() - t0).toFixed(0)} ms, ${result.stats.subSteps} sub-steps)`);
  } finally {
    input?.dispose();
    model.dispose();
  }
}

async function promptIds(opts: Map<string, string>, model: TransformerModel, command: string): Promise<{ ids: number[]; decode?: (ids: number[]) => string }> {
  const tokenizer = await tokenizerFor(model.config);
  if (opts.has('ids')) {
    const ids = opts.get('ids')!.split(',').map((s) => Number(s.trim()));
    if (ids.some((i) => !Number.isInteger(i))) throw new UsageError(`--ids: expected comma-separated integers, received "${opts.get('ids')}"`);
    return { ids, ...(tokenizer && { decode: (x: number[]) => tokenizer.decode(x) }) };
  }
  const prompt = opts.get('prompt');
  if (prompt === undefined) throw new UsageError(`tide ${command}: pass --prompt TEXT or --ids 1,2,3`);
  if (tokenizer === undefined) throw new CheckpointError('prompt', { expected: 'a model that declares a tokenizer (GPT-2 vocabulary or tide_tokenizer)', received: 'a model without one', fix: 'pass token ids with --ids' });
  return { ids: tokenizer.encode(prompt), decode: (x: number[]) => tokenizer.decode(x) };
}

async function commandGenerate(opts: Map<string, string>, io: CliIO): Promise<void> {
  const disc = discretisation(opts);
  const temperature = opts.has('temperature') ? Number(opts.get('temperature')) : 0;
  if (!(temperature >= 0)) throw new UsageError(`--temperature: expected a number ≥ 0, received "${opts.get('temperature')}"`);
  await startEngine(opts);
  const model = loadCheckpoint(required(opts, 'model', 'generate'));
  try {
    const { ids, decode } = await promptIds(opts, model, 'generate');
    const out = generate(model, ids, { ...disc, maxNewTokens: integer(opts, 'tokens', 32, 0), temperature, topK: integer(opts, 'top-k', model.config.vocabSize ?? 1, 1), seed: integer(opts, 'seed', 0, 0) });
    io.out(decode ? decode([...ids, ...out]) : [...ids, ...out].join(','));
  } finally {
    model.dispose();
  }
}

async function commandInspect(opts: Map<string, string>, io: CliIO): Promise<void> {
  await startEngine(opts);
  const dir = required(opts, 'model', 'inspect');
  const model = loadCheckpoint(dir);
  try {
    io.out(describeModel(model, dir).join('\n'));
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
    `  depth: T = ${c.numLayers} (one unit of time per layer), θ(t) piecewise constant`,
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

async function commandRun(opts: Map<string, string>, io: CliIO): Promise<void> {
  const backend = await startEngine(opts);
  const dir = opts.get('model') ?? DEFAULT_MODEL_DIR;
  const model = loadCheckpoint(dir);
  try {
    const tokenizer = await tokenizerFor(model.config);
    if (tokenizer === undefined) throw new CheckpointError(dir, { expected: 'a model that declares a tokenizer', received: 'a model without one', fix: 'tide run needs text; use tide forward for id inputs' });
    const summary = [`tide: engine ${backend}, ${attentionChoice()}; model ${opts.has('model') ? dir : 'embedded default'}`, ...describeModel(model, opts.has('model') ? dir : 'models/default')];
    for (const line of summary) io.out(line);
    const t0 = performance.now();
    const { runStudy } = await import('./study.js');
    const { writeReport } = await import('./report.js');
    const job = runStudy(model, tokenizer, { prompt: opts.get('prompt') ?? 'Call me Ishmael. ', tokens: integer(opts, 'tokens', 80, 1), title: 'TIDE: a Transformer solved as an integro-differential equation', summary });
    for (const line of job.lines) io.out(line);
    const index = await writeReport(opts.get('report') ?? join('reports', 'tide-run'), job.report);
    io.out(`\nreport: ${index} (attention kernels, trajectories over depth, constraint distances, measured orders); total ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    model.dispose();
  }
}

function number(opts: Map<string, string>, name: string, fallback: number): number {
  const raw = opts.get(name);
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < 0) throw new UsageError(`--${name}: expected a number ≥ 0, received "${raw}"`);
  return v;
}

function formatSeconds(s: number): string {
  return s >= 60 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${s.toFixed(0)}s`;
}

async function commandTrain(opts: Map<string, string>, io: CliIO): Promise<void> {
  const dataFile = required(opts, 'data', 'train');
  const outDir = required(opts, 'out', 'train');
  const disc = discretisation(opts);
  const resume = opts.get('resume') === 'true';
  const backend = await startEngine(opts);
  checkRegularFile(dataFile, 'a UTF-8 text file to train on', 'pass --data FILE (e.g. data/moby-dick.txt)');
  const { characterCorpus, trainLanguageModel } = await import('@tide/train');
  const corpus = characterCorpus(readFileSync(dataFile, 'utf8'));
  const steps = integer(opts, 'steps', 2000, 1);
  const tty = (process.stdout as { isTTY?: boolean }).isTTY === true;
  io.out(`tide train: ${corpus.train.length.toLocaleString('en')} training and ${corpus.validation.length.toLocaleString('en')} validation characters from ${dataFile}; ${backend}; ${disc.scheme ?? 'lie'} scheme, ${disc.stepsPerLayer ?? 1} step(s) per layer`);
  const result = trainLanguageModel(
    corpus,
    { dModel: integer(opts, 'd-model', 64, 1), heads: integer(opts, 'heads', 4, 1), layers: integer(opts, 'layers', 4, 1), contextLength: integer(opts, 'context', 64, 2), normFirst: opts.get('norm-first') !== 'false', ...(opts.has('d-ff') && { dFeedforward: integer(opts, 'd-ff', 256, 1) }) },
    {
      ...disc, steps, outDir, resume,
      batchSize: integer(opts, 'batch', 16, 1), learningRate: number(opts, 'lr', 3e-3), weightDecay: number(opts, 'weight-decay', 0.1),
      kineticWeight: number(opts, 'kinetic', 0), seed: integer(opts, 'seed', 0, 0), evalEvery: integer(opts, 'eval-every', 100, 1),
      checkpointEvery: integer(opts, 'checkpoint-every', 250, 1), ...(opts.has('stop-after') && { stopAfter: integer(opts, 'stop-after', steps, 1) }), ...(opts.has('warmup') && { warmup: integer(opts, 'warmup', 100, 0) }),
      onProgress: (p) => {
        const width = 24;
        const filled = Math.round((width * p.step) / p.steps);
        const eta = p.tokensPerSecond > 0 ? ((p.steps - p.step) * p.elapsedSeconds) / Math.max(1, p.step) : 0;
        const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] step ${p.step}/${p.steps} loss ${p.loss.toFixed(3)}${p.validationLoss !== undefined ? ` val ${p.validationLoss.toFixed(3)}` : ''} lr ${p.learningRate.toExponential(1)} ${p.tokensPerSecond.toFixed(0)} tok/s ${formatSeconds(p.elapsedSeconds)} elapsed, ~${formatSeconds(eta)} left`;
        if (tty) process.stdout.write(`\r${line}`);
        else if (p.validationLoss !== undefined || p.step === p.steps) io.out(line);
      },
    },
  );
  if (tty) process.stdout.write('\n');
  io.out(`tide train: done in ${formatSeconds(result.seconds)}; train loss ${result.trainLoss.toFixed(4)}, validation loss ${result.validationLoss.toFixed(4)} (nats/char); checkpoint in ${outDir}`);
  result.model.dispose();
}

/** Runs the CLI; returns the exit code (0 ok, 1 bad input, 2 bad usage). */
export async function runCli(argv: readonly string[], io: CliIO = { out: (l) => console.log(l), err: (l) => console.error(l) }): Promise<number> {
  try {
    const { command, opts } = parseArgs(argv);
    if (command === 'help') {
      io.out(HELP);
      return 0;
    }
    if (command === 'forward') await commandForward(opts, io);
    else if (command === 'generate') await commandGenerate(opts, io);
    else if (command === 'inspect') await commandInspect(opts, io);
    else if (command === 'train') await commandTrain(opts, io);
    else await commandRun(opts, io);
    return 0;
  } catch (error) {
    if (error instanceof UsageError || error instanceof DiscretisationError) {
      io.err(`tide: ${error.message}`);
      return 2;
    }
    const message = error instanceof TideError ? error.message : `unexpected error: ${(error as Error)?.message ?? String(error)}`;
    io.err(`tide: ${message.replace(/\s*\n\s*/g, ' ')}`);
    return 1;
  }
}
