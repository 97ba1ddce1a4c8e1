/**
 * The playground page: a model (embedded, or a checkpoint folder the user picks) solved live on the shared tfjs
 * engine in the browser (webgl by default). Every control re-solves and redraws: scheme, steps per layer, the
 * schedule θ(t), the token grid (docs/domains-and-quadrature.md) and the depth t ∈ [0, T] whose state is shown.
 * The views are the `tide run` report's charts (`@tide/cli/study`), so the page and the report cannot drift.
 */
import { BACKEND_NAMES, initEngine, seededRandom, tf, type BackendName, type EngineInfo } from '@tide/backend';
import {
  CHART_TITLES,
  constraintChart,
  constraintDistances,
  kernelChart,
  kernelsAt,
  layerKernels,
  measuredOrders,
  refinementChart,
  stateChart,
  stateRows,
  tokenLabels,
  trajectories,
  trajectoryChart,
  type RefinementPoint,
} from '@tide/cli/study';
import type { Field } from '@tide/domain';
import { CheckpointError } from '@tide/formats';
import {
  InputError,
  SCHEME_NAMES,
  forward,
  generateTokens,
  isLanguageModel,
  recommendedDiscretisation,
  type ForwardInput,
  type ForwardOptions,
  type SchemeName,
  type TokenGridOption,
} from '@tide/transformer';
import defaultConfig from '@tide/cli/models/default/config.json?raw';
import defaultWeightsUrl from '@tide/cli/models/default/model.safetensors?url';
import continuousConfig from '@tide/cli/models/continuous/config.json?raw';
import continuousWeightsUrl from '@tide/cli/models/continuous/model.safetensors?url';

/** The embedded models (a checkpoint folder picked with the file inputs loads the same way). */
const EMBEDDED: Record<string, { readonly config: string; readonly weights: string; readonly name: string }> = {
  default: { config: defaultConfig, weights: defaultWeightsUrl, name: 'the embedded default model' },
  continuous: {
    config: continuousConfig,
    weights: continuousWeightsUrl,
    name: 'the embedded continuous model (smooth controls θ(t))',
  },
};
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { modelFromBytes, modelFromFiles, type LoadedModel } from './model-files.js';
import { renderChart } from './render.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const select = (id: string) => $<HTMLSelectElement>(id);
const input = (id: string) => $<HTMLInputElement>(id);
const chart = (name: string) => document.querySelector<HTMLElement>(`figure[data-chart="${name}"] .chart`)!;
const caption = (name: string) => document.querySelector<HTMLElement>(`figure[data-chart="${name}"] figcaption`)!;

/** Tokens shown in the kernel, state and trajectory views. */
const SHOWN = 24;

let loaded: LoadedModel | undefined;
/** The token ids of the text the views are computed on (language models). */
let ids: number[] = [];
/** The current solve's states at every step boundary (disposed when the next solve replaces them). */
let solved: { states: readonly Field[]; times: number[]; labels: string[]; input: ForwardInput } | undefined;

// ——— status, progress and errors ———

function setState(state: 'loading' | 'busy' | 'ready' | 'error', status: string, progress?: number): void {
  document.body.dataset['state'] = state;
  $('status').textContent = status;
  const bar = $<HTMLProgressElement>('progress');
  if (progress === undefined) bar.removeAttribute('value');
  else bar.value = progress;
}

/** The one-line message of an error (TIDE's typed errors are written to be read as they are). */
function oneLine(error: unknown): string {
  const message = error instanceof Error ? `${error.message}` : String(error);
  return message.split('\n')[0]!.trim() || 'unknown error';
}

function showError(error: unknown): void {
  const box = $('error');
  box.textContent = oneLine(error);
  box.hidden = false;
  setState('error', 'stopped: see the message above');
}

const nextFrame = () => new Promise<void>((resolve) => requestAnimationFrame(() => resolve()));

/**
 * Runs one job at a time, in order. A job queued while another of the same kind still waits replaces it (moving
 * a slider re-draws once, at its last position); jobs of other kinds are kept.
 */
const pending = new Map<string, () => Promise<void>>();
let chain: Promise<void> = Promise.resolve();
function queue(kind: string, job: () => Promise<void>): Promise<void> {
  const fresh = !pending.has(kind);
  pending.set(kind, job);
  if (!fresh) return chain;
  chain = chain.then(async () => {
    const next = pending.get(kind)!;
    pending.delete(kind);
    $('error').hidden = true;
    try {
      await next();
    } catch (error) {
      showError(error);
    }
  });
  return chain;
}

// ——— the discretisation the controls describe ———

function tokenGrid(): TokenGridOption {
  const grid = select('grid').value;
  if (grid === 'resample') return { resample: Number(input('grid-n').value) };
  return grid as TokenGridOption;
}

function options(): ForwardOptions {
  return {
    scheme: select('scheme').value as SchemeName,
    stepsPerLayer: Number(select('steps').value),
    schedule: select('schedule').value as 'piecewise' | 'linear',
    tokenGrid: tokenGrid(),
  };
}

/** The exact scheme takes one step per layer: the steps control is fixed at 1 for it. */
function syncControls(): void {
  const exact = select('scheme').value === 'exact';
  if (exact) select('steps').value = '1';
  select('steps').disabled = exact;
  input('grid-n').disabled = select('grid').value !== 'resample';
}

/** A smooth test input u₀(x) for encoders: each feature a sum of three seeded sines in x ∈ [0, 1]. */
function smoothInput(n: number, d: number): tf.Tensor3D {
  const random = seededRandom(7);
  const coefficients = Array.from({ length: d }, () =>
    [1, 2, 3].map((m) => ({ m, a: (random() - 0.5) / m, phase: 2 * Math.PI * random() })),
  );
  const values = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const x = (i + 0.5) / n;
    for (let j = 0; j < d; j++)
      values[i * d + j] = coefficients[j]!.reduce((s, c) => s + c.a * Math.sin(Math.PI * c.m * x + c.phase), 0);
  }
  return tf.tensor3d(values, [1, n, d]); // [1, N, d]
}

function modelInput(): { input: ForwardInput; labels: string[] } {
  const model = loaded!.model;
  if (isLanguageModel(model)) {
    const sequence = ids.slice(-model.config.positions!);
    return {
      input: { inputIds: tf.tensor2d([sequence], [1, sequence.length], 'int32') },
      labels: tokenLabels(loaded!.tokenizer, sequence),
    };
  }
  const n = Math.max(2, Math.min(256, Math.floor(Number(input('encoder-n').value)) || 16));
  return {
    input: { input: smoothInput(n, model.config.dModel) },
    labels: Array.from({ length: n }, (_, i) => `x${i}`),
  };
}

function disposeInput(i: ForwardInput): void {
  i.inputIds?.dispose();
  i.input?.dispose();
}

function disposeSolved(): void {
  if (solved === undefined) return;
  tf.dispose(solved.states.map((f) => f.values));
  disposeInput(solved.input);
  solved = undefined;
}

/** Labels of a state's quadrature points: the tokens on the token grid, else the points x ∈ [0, 1]. */
function pointLabels(u: Field, tokens: string[]): string[] {
  if (u.tokens === tokens.length && (tokenGrid() === 'tokens' || tokenGrid() === 'uniform')) return tokens;
  return Array.from(u.tokenGrid.points, (x, i) => `${i} x=${x.toFixed(3)}`);
}

// ——— solving and drawing ———

/** Solves with the current controls, saving every step, and redraws every view but the orders. */
async function solveAndDraw(): Promise<void> {
  if (loaded === undefined) {
    setState('ready', 'no model loaded: pick a checkpoint folder or its files');
    return;
  }
  const model = loaded.model;
  setState('busy', 'solving…');
  await nextFrame();
  disposeSolved();
  const { input: given, labels } = modelInput();
  const opts = options();
  const t0 = performance.now();
  let result: ReturnType<typeof forward>;
  try {
    result = forward(model, given, { ...opts, saveSteps: true });
  } catch (error) {
    disposeInput(given);
    throw error;
  }
  try {
    await result.output.data();
  } catch (error) {
    tf.dispose([result.output, ...result.states.map((f) => f.values)]);
    disposeInput(given);
    throw error;
  }
  const ms = performance.now() - t0;
  result.output.dispose();
  const k = opts.stepsPerLayer ?? 1;
  const times = result.states.map((_, i) => i / k);
  solved = { states: result.states, times, labels: pointLabels(result.states[0]!, labels), input: given };
  $('forward-ms').textContent =
    `${ms.toFixed(1)} ms (${result.stats.fieldEvaluations} evaluations, ${result.description})`;
  const depth = input('depth');
  depth.max = String(model.config.numLayers);
  depth.step = String(1 / k);
  if (Number(depth.value) > model.config.numLayers) depth.value = String(model.config.numLayers);

  setState('busy', 'drawing the kernels and the constraint distances…');
  await nextFrame();
  const starts = Array.from({ length: model.config.numLayers }, (_, l) => solved!.states[l * k]!);
  await renderChart(chart('kernels'), kernelChart(layerKernels(model, starts, solved.labels, SHOWN)));
  // The projections are sub-steps of the splitting schemes; for RK schemes they act inside the rate, so the
  // chart shows the Lie splitting with the same step.
  const split = opts.scheme === 'exact' || opts.scheme === 'lie';
  const constraintOptions = split ? opts : { ...opts, scheme: 'lie' as const };
  await renderChart(chart('constraint'), constraintChart(constraintDistances(model, given, constraintOptions)));
  caption('constraint').textContent = split
    ? CHART_TITLES.constraint
    : `${CHART_TITLES.constraint} — Lie splitting, ${k} step${k > 1 ? 's' : ''} per layer (under ${opts.scheme}, P acts inside the rate)`;
  await drawDepth();
  setState('ready', `ready: ${loaded.name} on ${tf.getBackend()}`);
}

/** The views of the depth slider: the state u(·, ·, t), the kernels at t and the trajectories up to t. */
async function drawDepth(): Promise<void> {
  if (loaded === undefined || solved === undefined) return;
  const t = Number(input('depth').value);
  const index = solved.times.reduce(
    (best, s, i) => (Math.abs(s - t) < Math.abs(solved!.times[best]! - t) ? i : best),
    0,
  );
  const u = solved.states[index]!;
  const at = solved.times[index]!;
  $('depth-value').textContent = at.toFixed(3).replace(/\.?0+$/, '') || '0';
  const shown = Math.min(SHOWN, u.tokens);
  await renderChart(
    chart('state'),
    stateChart({ tokens: solved.labels.slice(0, shown), values: stateRows(u, shown), t: at }),
  );
  caption('state').textContent = `${CHART_TITLES.state} — t = ${at.toFixed(3)}`;
  await renderChart(chart('kernels-at'), kernelChart(kernelsAt(loaded.model, u, at, solved.labels, SHOWN)));
  caption('kernels-at').textContent =
    `Attention kernels of the layer acting at t = ${at.toFixed(3)}, on the state u(t)`;
  await renderChart(
    chart('trajectories'),
    trajectoryChart(trajectories(solved.states, solved.times, solved.labels, SHOWN), { at }),
  );
}

/** Error against Δt for each scheme on the current input and token grid, with fitted orders (one scheme a frame). */
async function measureOrders(): Promise<void> {
  if (loaded === undefined) return;
  const { input: given } = modelInput();
  // One call: the RK4 reference (32 steps per layer) is solved once for the four schemes.
  setState('busy', 'measuring orders: Lie, Strang, Heun, RK4 against RK4 with 32 steps per layer…');
  await nextFrame();
  let rows: RefinementPoint[];
  try {
    rows = measuredOrders(loaded.model, given, {
      base: { schedule: options().schedule ?? 'piecewise', tokenGrid: tokenGrid() },
    });
  } finally {
    disposeInput(given);
  }
  await renderChart(chart('refinement'), refinementChart(rows));
  setState('ready', `ready: ${loaded.name} on ${tf.getBackend()}`);
}

/**
 * Appends new tokens (sampled: temperature 0.8, top-12, seed 0), drawing the text as it grows: one incremental
 * solve per token with the key/value cache (docs/integral-attention.md), yielding to the page between tokens.
 */
async function generateText(): Promise<void> {
  if (loaded === undefined || !isLanguageModel(loaded.model)) return;
  const model = loaded.model;
  const tokenizer = loaded.tokenizer;
  const prompt = $<HTMLTextAreaElement>('prompt').value;
  ids = promptIds(prompt);
  const count = Math.max(1, Math.min(64, Math.floor(Number(input('new-tokens').value)) || 16));
  const { scheme, stepsPerLayer, schedule } = options();
  const fresh: number[] = [];
  setState('busy', `generating: token 1 of ${count}`, 0);
  await nextFrame();
  const t0 = performance.now();
  for (const next of generateTokens(model, ids, {
    scheme,
    stepsPerLayer,
    schedule,
    maxNewTokens: count,
    temperature: 0.8,
    topK: 12,
    seed: 0,
  })) {
    fresh.push(next);
    $('generated').textContent = tokenizer ? prompt + tokenizer.decode(fresh) : [...ids, ...fresh].join(' ');
    setState('busy', `generating: token ${fresh.length + 1} of ${count}`, fresh.length / count);
    await nextFrame();
  }
  const seconds = (performance.now() - t0) / 1000;
  $('generation-speed').textContent =
    `${count} tokens in ${seconds.toFixed(2)} s (${(count / seconds).toFixed(1)} tokens/s, key/value cache)`;
  ids = [...ids, ...fresh];
  await solveAndDraw();
}

/** The prompt as token ids: the model's tokenizer, or space-separated ids for a model without one. */
function promptIds(prompt: string): number[] {
  const model = loaded!.model;
  if (loaded!.tokenizer) {
    const encoded = loaded!.tokenizer.encode(prompt);
    if (encoded.length === 0)
      throw new InputError('prompt', {
        expected: 'at least one token',
        received: 'an empty prompt',
        fix: 'type a prompt',
      });
    return encoded;
  }
  const parsed = prompt
    .trim()
    .split(/[\s,]+/)
    .map(Number);
  const vocab = model.config.vocabSize!;
  if (parsed.length === 0 || parsed.some((v) => !Number.isInteger(v) || v < 0 || v >= vocab))
    throw new InputError('prompt', {
      expected: `token ids 0…${vocab - 1} separated by spaces (this model declares no tokenizer)`,
      received: JSON.stringify(prompt.slice(0, 40)),
      fix: 'type ids such as 1 2 3',
    });
  return parsed;
}

// ——— models ———

async function useModel(next: LoadedModel): Promise<void> {
  // The prompt the new model reads, settled before the old model goes: a prompt it cannot read falls back to one
  // it can (the page never solves a model on another model's token ids).
  const prompt = $<HTMLTextAreaElement>('prompt');
  if (isLanguageModel(next.model)) {
    if (!next.tokenizer) {
      const V = next.model.config.vocabSize!;
      if (
        !/^[\d\s,]+$/.test(prompt.value) ||
        prompt.value
          .trim()
          .split(/[\s,]+/)
          .some((v) => Number(v) >= V)
      )
        prompt.value = Array.from({ length: Math.min(8, V) }, (_, i) => i).join(' ');
    } else if (/^[\d\s,]*$/.test(prompt.value)) prompt.value = 'ROMEO: ';
  }
  disposeSolved();
  loaded?.model.dispose();
  loaded = next;
  ids = [];
  $('model-info').textContent = next.description;
  const lm = isLanguageModel(next.model);
  $('text-controls').hidden = !lm;
  $('encoder-controls').hidden = lm;
  $('generated').textContent = '';
  if (lm) {
    try {
      ids = promptIds(prompt.value);
    } catch {
      prompt.value = next.tokenizer ? 'ROMEO: ' : '0 1 2';
      ids = promptIds(prompt.value);
    }
    $('generated').textContent = prompt.value;
  }
  // The model's own discretisation (a network: exact; a smooth-control model: what it was trained with).
  const recommended = recommendedDiscretisation(next.model);
  select('scheme').value = recommended.scheme;
  select('steps').value = String(recommended.stepsPerLayer);
  const smooth = next.model.config.controls !== undefined;
  for (const option of select('scheme').options) option.disabled = option.value === 'exact' && smooth;
  // θ(t) of a smooth-control model is its Legendre series: no piecewise/linear choice between layers.
  if (smooth) select('schedule').value = 'piecewise';
  select('schedule').disabled = smooth;
  // Refining a post-LN model gives another model, not a finer solve: no orders to measure.
  $<HTMLButtonElement>('measure').disabled = !next.model.config.normFirst;
  syncControls();
  chart('refinement').replaceChildren();
  await solveAndDraw();
}

async function fetchWithProgress(url: string, what: string): Promise<Uint8Array> {
  const response = await fetch(url);
  if (!response.ok)
    throw new CheckpointError(what, {
      expected: `the file at ${url}`,
      received: `HTTP ${response.status}`,
      fix: 'serve the built site whole (dist/ with its assets)',
    });
  const total = Number(response.headers.get('content-length')) || 0;
  const reader = response.body!.getReader();
  const parts: Uint8Array[] = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    received += value.byteLength;
    setState('loading', `loading ${what}: ${(received / 1024).toFixed(0)} KiB`, total ? received / total : undefined);
  }
  const bytes = new Uint8Array(received);
  let offset = 0;
  for (const p of parts) {
    bytes.set(p, offset);
    offset += p.byteLength;
  }
  return bytes;
}

async function loadEmbedded(): Promise<void> {
  const embedded = EMBEDDED[select('model').value] ?? EMBEDDED['default']!;
  setState('loading', `loading ${embedded.name}…`);
  const weights = await fetchWithProgress(embedded.weights, embedded.name);
  await useModel(await modelFromBytes(embedded.config, weights, embedded.name));
}

async function loadPicked(files: FileList | null): Promise<void> {
  if (files === null || files.length === 0) return;
  setState('loading', `reading ${files.length} picked files…`);
  await nextFrame();
  await useModel(await modelFromFiles([...files]));
}

/** The engine line: the backend (fp16 when WebGL lacks float32), and whether TIDE's wasm SIMD kernels run. */
function showEngine(info: EngineInfo): void {
  const engine = $('engine');
  engine.textContent = `${info.backend}${info.float32 ? '' : ' (fp16)'}`;
  engine.dataset['simd'] = String(info.simdKernels);
  engine.title = info.simdKernels ? "with TIDE's wasm SIMD kernels" : '';
}

async function switchBackend(name: BackendName): Promise<void> {
  setState('loading', `starting ${name}…`);
  const info = await initEngine({
    backend: name,
    wasmPaths: {
      'tfjs-backend-wasm.wasm': wasmPlain,
      'tfjs-backend-wasm-simd.wasm': wasmSimd,
      'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
    },
  });
  select('backend').value = info.backend;
  showEngine(info);
  await solveAndDraw();
}

// ——— wiring ———

function fill(id: string, values: readonly string[]): void {
  select(id).replaceChildren(...values.map((v) => new Option(v, v)));
}

async function start(): Promise<void> {
  fill('backend', BACKEND_NAMES);
  fill('scheme', SCHEME_NAMES);
  select('scheme').value = 'exact';
  for (const name of ['kernels', 'trajectories', 'constraint', 'refinement'] as const)
    caption(name).textContent = CHART_TITLES[name];
  caption('state').textContent = CHART_TITLES.state;
  syncControls();
  // Controls first: when the engine or the embedded model fails, the backend switch and the file inputs still work.
  const resolve = () => {
    syncControls();
    chart('refinement').replaceChildren(); // measured for another discretisation
    void queue('solve', solveAndDraw);
  };
  for (const id of ['scheme', 'steps', 'schedule', 'grid']) select(id).addEventListener('change', resolve);
  input('grid-n').addEventListener('change', resolve);
  input('encoder-n').addEventListener('change', resolve);
  input('depth').addEventListener('input', () => void queue('depth', drawDepth));
  $('generate').addEventListener('click', () => void queue('generate', generateText));
  $('measure').addEventListener('click', () => void queue('orders', measureOrders));
  select('backend').addEventListener(
    'change',
    () => void queue('backend', () => switchBackend(select('backend').value as BackendName)),
  );
  select('model').addEventListener('change', () => void queue('model', loadEmbedded));
  for (const id of ['files', 'folder']) {
    input(id).addEventListener('change', () => {
      const files = input(id).files;
      void queue('model', async () => {
        try {
          await loadPicked(files);
        } finally {
          input(id).value = '';
        }
      });
    });
  }
  const info = await initEngine({
    wasmPaths: {
      'tfjs-backend-wasm.wasm': wasmPlain,
      'tfjs-backend-wasm-simd.wasm': wasmSimd,
      'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
    },
  });
  select('backend').value = info.backend;
  showEngine(info);
  await loadEmbedded();
}

void queue('start', start);
