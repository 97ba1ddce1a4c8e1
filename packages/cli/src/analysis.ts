/**
 * The study's analyses of a solve, one function each, shared by `tide run` (through `runStudy`) and the browser
 * playground (through `@tide/cli/study`): attention kernels per layer and at any depth, distances to the
 * constraint set around each projection, token trajectories in a principal plane, the state as rows, and
 * measured orders of convergence. They return plain rows for the specs of `charts.ts`.
 *
 * Browser-safe: only `@tide/*` packages and tfjs, no Node module. Every function disposes the tensors it makes
 * (`tf.memory().numTensors` is unchanged by a call), keeps its inputs, and checks them with the typed errors of
 * `@tide/transformer`: {@link InputError} for a model, state, label or token that does not fit,
 * {@link DiscretisationError} for schemes and step counts. The views read the first sample (batch index 0).
 */
import { convergenceOrder, describeValue, disposeTree, tf } from '@tide/backend';
import { attentionKernel } from '@tide/attention';
import { Field } from '@tide/domain';
import type { Tokenizer } from '@tide/formats';
import { AffineStep, LayerNormConstraint } from '@tide/normalization';
import {
  DiscretisationError,
  InputError,
  SCHEME_NAMES,
  checkDiscretisationOptions,
  controlSchedule,
  forward,
  type ForwardInput,
  type LayerParameters,
  type ForwardOptions,
  type SchemeName,
  type TransformerModel,
} from '@tide/transformer';
import type { ConstraintDistance, KernelPanel, RefinementPoint, TrajectoryPoint } from './charts.js';

/** Options a caller may pass through to the solves of an analysis (the analysis sets what it saves and observes). */
export type PassedForwardOptions = Omit<ForwardOptions, 'saveLayers' | 'saveSteps' | 'onSubStep'>;

/** Options of {@link measuredOrders}. */
export interface MeasuredOrdersOptions {
  /** The schemes to refine (default `lie`, `strang`, `heun`, `rk4`); `exact` has one step per layer and cannot refine. */
  readonly schemes?: readonly SchemeName[];
  /** The steps per layer k (Δt = 1/k), at least two distinct values (default 2, 4, 8, 16). */
  readonly stepsPerLayer?: readonly number[];
  /** The reference: RK4 with this many steps per layer, more than any of `stepsPerLayer` (default 32). */
  readonly referenceStepsPerLayer?: number;
  /** Options passed to every solve (a θ(t) `schedule`, a `budget`); scheme and steps are the analysis's. */
  readonly base?: Omit<PassedForwardOptions, 'scheme' | 'stepsPerLayer'>;
  /** Called after each solve with what was solved, e.g. `"heun, 8 steps/layer"`. */
  readonly onProgress?: (label: string) => void;
}

const DEFAULT_SCHEMES: readonly SchemeName[] = ['lie', 'strang', 'heun', 'rk4'];
const DEFAULT_STEPS = [2, 4, 8, 16] as const;
const DEFAULT_REFERENCE_STEPS = 32;
/** Errors are floored here before the log–log fit (float32 round-off; an error of exactly 0 has no logarithm). */
const SMALLEST_ERROR = 1e-7;

// ---------------------------------------------------------------------------------------------------------------
// Checks

function checkModel(subject: string, model: TransformerModel): void {
  const layers = (model as Partial<TransformerModel> | null)?.parameters?.layers;
  if (typeof model?.config?.numLayers !== 'number' || !Array.isArray(layers) || layers.length === 0) {
    throw new InputError(`${subject}: model`, {
      expected: 'a loaded TransformerModel with at least one layer',
      received: describeValue(model),
      fix: 'load it with loadCheckpoint (@tide/transformer/node) or modelFromTensors (@tide/transformer)',
    });
  }
}

function checkShown(subject: string, shown: number): void {
  if (!Number.isInteger(shown) || shown < 1) {
    throw new InputError(`${subject}: shown`, {
      expected: 'an integer ≥ 1 (how many of the first tokens to show)',
      received: describeValue(shown),
      fix: 'pass e.g. 24; it is clamped to the number of tokens',
    });
  }
}

function checkState(subject: string, u: Field, features?: number): Field {
  if (!(u instanceof Field) || u.values.isDisposed) {
    throw new InputError(subject, {
      expected: 'a live Field [B, N, d] (a state saved by forward)',
      received: u instanceof Field ? 'a disposed Field' : describeValue(u),
      fix: 'pass a state from forward(model, input, { saveLayers: true }).states and dispose it after the analysis',
    });
  }
  if (features !== undefined && u.features !== features) {
    throw new InputError(subject, {
      expected: `a state with the model's d_model = ${features} features`,
      received: `${u.features} features`,
      fix: 'pass a state of this model',
    });
  }
  return u;
}

function checkLabels(subject: string, labels: readonly string[], needed: number): void {
  if (
    !Array.isArray(labels) ||
    labels.length < needed ||
    !labels.slice(0, needed).every((l) => typeof l === 'string')
  ) {
    throw new InputError(`${subject}: labels`, {
      expected: `at least ${needed} token labels (strings)`,
      received: Array.isArray(labels) ? `${labels.length} labels` : describeValue(labels),
      fix: 'pass tokenLabels(tokenizer, ids), one label per token',
    });
  }
}

function checkStepCount(subject: string, k: unknown): number {
  if (!Number.isInteger(k) || (k as number) < 1 || (k as number) > 4096) {
    throw new DiscretisationError(subject, {
      expected: 'an integer from 1 to 4096',
      received: describeValue(k),
      fix: 'pass steps per layer such as 2, 4, 8, 16',
    });
  }
  return k as number;
}

// ---------------------------------------------------------------------------------------------------------------
// Small helpers

/** `max |a − b|` over all entries. */
function maxAbs(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

/** The first sample's first `n` tokens of `u`, as rows of numbers `[n][d]`. */
function firstRows(u: Field, n: number): number[][] {
  const part = tf.slice(u.values, [0, 0, 0], [1, n, u.features]);
  try {
    return (part.arraySync() as number[][][])[0]!;
  } finally {
    part.dispose();
  }
}

const unitSphere = new LayerNormConstraint({}, 'S₁(0, 1)');

/**
 * The mean over tokens of dist(u(x, ·), S₁(0, 1)) in L²(Ω_y) (padding tokens, of weight 0, excluded):
 * `dist = √(|Ω_y| (α² + (√β − 1)²))` with α, β the feature mean and variance of the token (paper §3).
 */
function meanDistance(u: Field): number {
  const weights = Array.from({ length: u.batch }, (_, b) => u.sampleTokenWeights(b));
  if (weights.every((w) => w.every((x) => x > 0))) {
    return tf.tidy(() => tf.mean(unitSphere.distance(u, 0)).dataSync()[0]!);
  }
  const d = tf.tidy(() => unitSphere.distance(u, 0));
  const values = d.dataSync();
  d.dispose();
  let sum = 0;
  let count = 0;
  weights.forEach((w, b) =>
    w.forEach((x, i) => {
      if (x > 0) {
        sum += values[b * u.tokens + i]!;
        count++;
      }
    }),
  );
  return count === 0 ? 0 : sum / count;
}

/** Top-2 principal directions of `rows` (power iteration with deflation): `[mean, pc1, pc2]`. */
function principalPlane(rows: readonly (readonly number[])[]): number[][] {
  const d = rows[0]!.length;
  const mean = Array.from({ length: d }, (_, j) => rows.reduce((s, r) => s + r[j]!, 0) / rows.length);
  const centred = rows.map((r) => r.map((v, j) => v - mean[j]!));
  const dirs: number[][] = [];
  for (let c = 0; c < 2; c++) {
    let v = Array.from({ length: d }, (_, j) => Math.sin(7 * j + c + 1));
    for (let it = 0; it < 200; it++) {
      const w = new Array<number>(d).fill(0);
      for (const r of centred) {
        const p = r.reduce((s, x, j) => s + x * v[j]!, 0);
        for (let j = 0; j < d; j++) w[j]! += p * r[j]!;
      }
      for (const u of dirs) {
        const p = w.reduce((s, x, j) => s + x * u[j]!, 0);
        for (let j = 0; j < d; j++) w[j]! -= p * u[j]!;
      }
      const n = Math.hypot(...w) || 1;
      v = w.map((x) => x / n);
    }
    dirs.push(v);
  }
  return [mean, ...dirs];
}

// ---------------------------------------------------------------------------------------------------------------
// Analyses

/**
 * A label per token id: the decoded token (escaped as in a JSON string, so that `\n` stays visible), or `#id`
 * without a tokenizer (encoders, or models that declare none).
 *
 * @throws {InputError} when an id is not a non-negative integer.
 */
export function tokenLabels(tokenizer: Tokenizer | undefined, ids: readonly number[]): string[] {
  if (!Array.isArray(ids)) {
    throw new InputError('tokenLabels: ids', {
      expected: 'an array of token ids',
      received: describeValue(ids),
      fix: 'pass the ids the model reads',
    });
  }
  const bad = ids.findIndex((i) => !Number.isInteger(i) || i < 0);
  if (bad >= 0) {
    throw new InputError(`tokenLabels: ids[${bad}]`, {
      expected: 'a non-negative integer token id',
      received: describeValue(ids[bad]),
      fix: 'pass the ids the model reads',
    });
  }
  return ids.map((i) => (tokenizer === undefined ? `#${i}` : JSON.stringify(tokenizer.decode([i])).slice(1, -1)));
}

/**
 * The attention kernels of layer `l` evaluated on the state `u` (its input at the layer start), first sample,
 * first `shown` tokens. Pre-LN: attention reads `v = affine₁(P₁^ε u)` (the rate `A(P₁u)` of `u_t = A(P₁u) + F(P₂u)`);
 * post-LN: attention reads the state itself (`u + A[u]` comes first, paper §4.1).
 */
function panelsOfLayer(
  subject: string,
  model: TransformerModel,
  l: number,
  state: Field,
  labels: readonly string[],
  shown: number,
  t: number = l,
): KernelPanel[] {
  const u = checkState(subject, state, model.config.dModel);
  const n = Math.min(shown, u.tokens);
  checkLabels(subject, labels, n);
  // θ(t): layer l of a discrete network, or the smooth control evaluated at t (new tensors, freed below).
  const smooth = controlSchedule(model);
  const layer = smooth === undefined ? model.parameters.layers[l]! : smooth.at(t);
  try {
    return kernelPanels(model, layer, l, u, labels, n);
  } finally {
    if (smooth !== undefined) disposeTree(layer);
  }
}

function kernelPanels(
  model: TransformerModel,
  layer: LayerParameters,
  l: number,
  u: Field,
  labels: readonly string[],
  n: number,
): KernelPanel[] {
  const { heads, causal, epsilon, normFirst } = model.config;
  const gamma = tf.tidy(() => {
    const v = normFirst
      ? new AffineStep(layer.norm1.gamma, layer.norm1.beta).apply(new LayerNormConstraint({ epsilon }).project(u, l), l)
      : u;
    const g = attentionKernel(v, layer.attention, { heads, causal }); // [B, H, N, N]
    return tf.slice(g, [0, 0, 0, 0], [1, g.shape[1], n, n]); // [1, H, n, n]
  });
  const rows = (gamma.arraySync() as number[][][][])[0]!;
  gamma.dispose();
  const tokens = labels.slice(0, n);
  return rows.map((g, head) => ({ layer: l, head, tokens, gamma: g }));
}

/**
 * The attention kernels γ_m(x, x̃) of every layer l and head m, each on the state at its layer start
 * `u(·, ·, l)`, for the first sample's first `shown` tokens (paper §3; `attentionKernel` of `@tide/attention`):
 *
 *     γ_m(x_k, x_l) = exp(s_m(x_k, x_l)) / Σ_j w_j exp(s_m(x_k, x_j)),   s_m = ⟨Q_m v(x_k), K_m v(x_l)⟩ / √d_k,
 *
 * so that `Σ_l w_l γ_m(x_k, x_l) = 1` (each row integrates to 1 over Ω_x with the token weights w; with the
 * standard grid, w = 1, and a shown row sums to 1 when every key it sees is shown: causal models, or
 * `shown` ≥ N). Causal and padding keys get γ = 0. `v` is what attention reads: pre-LN `affine₁(P₁^ε u)`,
 * post-LN the state `u` itself.
 *
 * @param states the states at t = 0, 1, …, L − 1 (layer starts); `forward(…, { saveLayers: true }).states`
 *   (which also holds u(L), ignored) fits.
 * @param labels a label per token (at least `min(shown, N)`), see {@link tokenLabels}.
 * @param shown how many of the first tokens to show (an integer ≥ 1, clamped to N).
 * @returns L·H panels, layer-major.
 * @throws {InputError} for a missing or foreign state, too few labels, or a bad `shown`.
 */
export function layerKernels(
  model: TransformerModel,
  states: readonly Field[],
  labels: readonly string[],
  shown: number,
): KernelPanel[] {
  checkModel('layerKernels', model);
  checkShown('layerKernels', shown);
  const layers = model.config.numLayers; // the depth T (a smooth-control model holds K coefficient sets instead)
  if (!Array.isArray(states) || states.length < layers) {
    throw new InputError('layerKernels: states', {
      expected: `the states at the layer starts t = 0, …, ${layers - 1} (${layers} fields)`,
      received: Array.isArray(states) ? `${states.length} states` : describeValue(states),
      fix: 'pass forward(model, input, { saveLayers: true }).states',
    });
  }
  return Array.from({ length: layers }, (_, l) =>
    panelsOfLayer(`layerKernels: states[${l}]`, model, l, states[l]!, labels, shown),
  ).flat();
}

/**
 * The depth slider's view: the kernels of the layer that acts at time t (θ(t) piecewise constant: layer
 * `⌊t⌋`, clamped to L − 1 so that t = L shows the last layer) evaluated on the state `u = u(·, ·, t)`.
 * At t = l this equals {@link layerKernels}' panels of layer l. Same formula and conventions as there.
 *
 * @throws {InputError} when t is not in [0, L], or for a bad state, labels or `shown`.
 */
export function kernelsAt(
  model: TransformerModel,
  u: Field,
  t: number,
  labels: readonly string[],
  shown: number,
): KernelPanel[] {
  checkModel('kernelsAt', model);
  checkShown('kernelsAt', shown);
  const layers = model.config.numLayers;
  if (typeof t !== 'number' || !Number.isFinite(t) || t < 0 || t > layers) {
    throw new InputError('kernelsAt: t', {
      expected: `a depth in [0, ${layers}]`,
      received: describeValue(t),
      fix: `the model has ${layers} layers, one unit of time each`,
    });
  }
  const l = Math.min(layers - 1, Math.floor(t));
  return panelsOfLayer('kernelsAt: u', model, l, u, labels, shown, t);
}

/**
 * The mean distance to the LayerNorm constraint set `S₁(0, 1) = { u : mean_y u = 0, var_y u = 1 }` just
 * before and just after each projection of a solve (paper §3, §4.1), over every token of the input (padding
 * excluded):
 *
 *     dist(u(x, ·), S₁) = √(|Ω_y| (α(x)² + (√β(x) − 1)²)),   α, β: the feature mean and variance.
 *
 * Pre-LN (`u_t = A(P₁u) + F(P₂u)`): P₁^ε acts on the state at each step start u_n, P₂^ε on the stage
 * `u_n + Δt A(P₁u_n)`; both projections are recomputed on those inputs (they act inside the rates).
 * Post-LN: the solver's own projection sub-steps P₁^ε and P₂^{ε/4}, with the stages just before and after.
 * Projections with ε > 0 land near S₁, not on it: "after" is small, not 0.
 *
 * Labelled `layer l · P₁` (one step per layer) or `layer l · step j/k · P₁`; rows come in solve order,
 * `before` then `after` for each projection.
 *
 * @param options a Lie-splitting discretisation (`exact` or `lie`, any steps per layer, any schedule): the
 *   only schemes whose sub-steps are projections.
 * @throws {DiscretisationError} for another scheme or bad options; {@link InputError} for a bad input.
 */
export function constraintDistances(
  model: TransformerModel,
  input: ForwardInput,
  options: PassedForwardOptions = {},
): ConstraintDistance[] {
  checkModel('constraintDistances', model);
  const { scheme, stepsPerLayer: k } = checkDiscretisationOptions(options ?? {});
  if (scheme !== 'exact' && scheme !== 'lie') {
    throw new DiscretisationError('constraintDistances: scheme', {
      expected: 'exact or lie (Lie splitting: the projections are sub-steps)',
      received: `'${scheme}'`,
      fix: "pass { scheme: 'lie', stepsPerLayer: k }",
    });
  }
  const { saveLayers: _l, saveSteps: _s, onSubStep: _o, ...passed } = (options ?? {}) as ForwardOptions;
  const preLn = model.config.normFirst;
  const project = new LayerNormConstraint({ epsilon: model.config.epsilon });
  const name = (step: number, p: string) =>
    k === 1 ? `layer ${step} · ${p}` : `layer ${Math.floor(step / k)} · step ${(step % k) + 1}/${k} · ${p}`;
  const perStep: ConstraintDistance[][] = [];
  const record = (step: number, p: string, before: number, after: number) =>
    (perStep[step] ??= []).push(
      { step: name(step, p), when: 'before', distance: before },
      { step: name(step, p), when: 'after', distance: after },
    );
  const distanceAfterProjection = (u: Field, t: number): number => {
    const p = project.project(u, t);
    try {
      return meanDistance(p);
    } finally {
      p.dispose();
    }
  };
  let previous: { step: number; stage: Field } | undefined; // the stage before this one, in the same step
  let projections = 0; // projections seen in the current step (post-LN: P₁, then P₂)
  const run = forward(model, input, {
    ...passed,
    saveSteps: preLn, // pre-LN: P₁'s inputs are the step starts
    onSubStep: ({ step, subStep, kind, t, stage }) => {
      if (preLn) {
        // Sub-step 0 is u + Δt A(P₁u), sub-step 1 is u + Δt F(P₂u): P₂ reads sub-step 0's result.
        if (subStep === 0) record(step, 'P₂', meanDistance(stage), distanceAfterProjection(stage, t));
        return;
      }
      if (previous?.step !== step) projections = 0;
      if (kind === 'projection' && previous?.step === step) {
        record(step, projections === 0 ? 'P₁' : 'P₂', meanDistance(previous.stage), meanDistance(stage));
        projections++;
      }
      previous = { step, stage };
    },
  });
  previous = undefined;
  try {
    if (preLn) {
      run.states.slice(0, -1).forEach((u, step) => {
        (perStep[step] ??= []).unshift(
          { step: name(step, 'P₁'), when: 'before', distance: meanDistance(u) },
          { step: name(step, 'P₁'), when: 'after', distance: distanceAfterProjection(u, step / k) },
        );
      });
    }
  } finally {
    tf.dispose([run.output, ...run.states.map((f) => f.values)]);
  }
  return perStep.flat();
}

/**
 * Token trajectories over depth in a principal plane: the first sample's first `shown` token states at every
 * saved time, `u(x_i, ·, t_s) ∈ ℝ^d`, projected on the two leading principal components of all of them
 * together (mean m, directions e₁, e₂ by power iteration with deflation):
 *
 *     pc1 = ⟨u(x_i, ·, t_s) − m, e₁⟩,   pc2 = ⟨u(x_i, ·, t_s) − m, e₂⟩.
 *
 * @param states the saved states (e.g. `forward(…, { saveSteps: true }).states`), all of one shape.
 * @param times the depth t of each state (e.g. `s / k` with k steps per layer).
 * @returns a point per token and time, token-major within each time, labelled `"<i> <label>"`.
 * @throws {InputError} for mismatched states and times, states of different shapes, bad labels or `shown`.
 */
export function trajectories(
  states: readonly Field[],
  times: readonly number[],
  labels: readonly string[],
  shown: number,
): TrajectoryPoint[] {
  checkShown('trajectories', shown);
  if (!Array.isArray(states) || states.length === 0 || !Array.isArray(times) || times.length !== states.length) {
    throw new InputError('trajectories: states and times', {
      expected: 'at least one state, and one time per state',
      received: `${Array.isArray(states) ? states.length : describeValue(states)} states, ${Array.isArray(times) ? times.length : describeValue(times)} times`,
      fix: 'pass forward(…, { saveSteps: true }).states with their times',
    });
  }
  const bad = times.findIndex((t) => typeof t !== 'number' || !Number.isFinite(t));
  if (bad >= 0) {
    throw new InputError(`trajectories: times[${bad}]`, {
      expected: 'a finite depth',
      received: describeValue(times[bad]),
      fix: 'pass the time of each saved state',
    });
  }
  const first = checkState('trajectories: states[0]', states[0]!);
  states.forEach((u, s) => {
    checkState(`trajectories: states[${s}]`, u, first.features);
    if (u.tokens !== first.tokens) {
      throw new InputError(`trajectories: states[${s}]`, {
        expected: `${first.tokens} tokens, like states[0]`,
        received: `${u.tokens} tokens`,
        fix: 'pass the states of one solve',
      });
    }
  });
  const n = Math.min(shown, first.tokens);
  checkLabels('trajectories', labels, n);
  const rows = states.map((u) => firstRows(u, n)); // [S][n][d]
  const [mean, a, b] = principalPlane(rows.flat());
  return rows.flatMap((tokens, s) =>
    tokens.map((r, i) => ({
      token: `${i} ${labels[i]}`,
      t: times[s]!,
      pc1: r.reduce((acc, x, j) => acc + (x - mean![j]!) * a![j]!, 0),
      pc2: r.reduce((acc, x, j) => acc + (x - mean![j]!) * b![j]!, 0),
    })),
  );
}

/**
 * The state u(x, y, t) of the first sample as rows: `rows[i][j] = u(x_i, y_j)` for the first `shown` tokens
 * and every feature (for {@link stateChart} of `charts.ts`).
 *
 * @throws {InputError} for a bad state or `shown`.
 */
export function stateRows(u: Field, shown: number): number[][] {
  checkShown('stateRows', shown);
  checkState('stateRows: u', u);
  return firstRows(u, Math.min(shown, u.tokens));
}

/**
 * Measured orders of convergence in Δt on this model and input (paper §4; docs/continuous-depth.md): for each
 * scheme and k steps per layer (Δt = 1/k), the error of the output at t = T against a fine RK4 reference,
 *
 *     e(Δt) = max |y_Δt − y_ref|   (logits of a language model, hidden states of an encoder),
 *
 * floored at 10⁻⁷, and the order p fitted by least squares on log e = p log Δt + c over that scheme's step
 * sizes (`convergenceOrder` of `@tide/backend`). Pre-LN models only: their depth is a smooth ODE
 * `u_t = A(P₁u) + F(P₂u)`, so Lie tends to order 1, Strang and Heun to 2, RK4 to 4 once Δt resolves θ(t)
 * (a piecewise-constant θ(t) jumps at the layer boundaries, which are step boundaries here).
 *
 * @returns a row per scheme and step size, each with its scheme's fitted order.
 * @throws {DiscretisationError} for a post-LN model (its splitting with k > 1 is a different model, not a
 *   refinement), `exact` or an unknown scheme, fewer than two distinct step counts, or a reference that is not
 *   finer than every step count; {@link InputError} for a bad input.
 */
export function measuredOrders(
  model: TransformerModel,
  input: ForwardInput,
  options: MeasuredOrdersOptions = {},
): RefinementPoint[] {
  checkModel('measuredOrders', model);
  if (!model.config.normFirst) {
    throw new DiscretisationError('measuredOrders: model', {
      expected: 'a pre-LN model (norm_first, GPT-2): a smooth field over depth',
      received: 'a post-LN model',
      fix: 'post-LN layers are projections: their splitting with k > 1 steps per layer is another model, not a refinement',
    });
  }
  const schemes = options.schemes ?? DEFAULT_SCHEMES;
  if (!Array.isArray(schemes) || schemes.length === 0) {
    throw new DiscretisationError('measuredOrders: schemes', {
      expected: 'at least one scheme',
      received: describeValue(schemes),
      fix: "pass e.g. ['lie', 'strang', 'heun', 'rk4']",
    });
  }
  for (const s of schemes) {
    if (!(SCHEME_NAMES as readonly string[]).includes(s) || s === 'exact') {
      throw new DiscretisationError('measuredOrders: scheme', {
        expected: `one of ${SCHEME_NAMES.filter((n) => n !== 'exact').join(', ')}`,
        received: describeValue(s),
        fix: "'exact' is Lie with one step per layer: refine 'lie' instead",
      });
    }
  }
  const ks = [...(options.stepsPerLayer ?? DEFAULT_STEPS)].map((k) =>
    checkStepCount('measuredOrders: steps per layer', k),
  );
  if (new Set(ks).size < 2) {
    throw new DiscretisationError('measuredOrders: steps per layer', {
      expected: 'at least two distinct step counts',
      received: `[${ks.join(', ')}]`,
      fix: 'pass e.g. [2, 4, 8, 16]',
    });
  }
  const reference = checkStepCount(
    'measuredOrders: reference steps per layer',
    options.referenceStepsPerLayer ?? DEFAULT_REFERENCE_STEPS,
  );
  if (reference <= Math.max(...ks)) {
    throw new DiscretisationError('measuredOrders: reference steps per layer', {
      expected: `more than the finest step count (${Math.max(...ks)})`,
      received: String(reference),
      fix: 'the reference must be finer than every solve it measures',
    });
  }
  const {
    saveLayers: _l,
    saveSteps: _s,
    onSubStep: _o,
    scheme: _scheme,
    stepsPerLayer: _k,
    ...base
  } = (options.base ?? {}) as ForwardOptions;
  const exact = forward(model, input, { ...base, scheme: 'rk4', stepsPerLayer: reference }).output;
  options.onProgress?.(`reference: rk4, ${reference} steps/layer`);
  const rows: RefinementPoint[] = [];
  try {
    for (const scheme of schemes) {
      const errors = ks.map((k) => {
        const out = forward(model, input, { ...base, scheme, stepsPerLayer: k }).output;
        let error: number;
        try {
          error = Math.max(maxAbs(out, exact), SMALLEST_ERROR);
        } finally {
          out.dispose();
        }
        options.onProgress?.(`${scheme}, ${k} steps/layer`);
        return error;
      });
      const order = convergenceOrder(
        ks.map((k) => 1 / k),
        errors,
      );
      ks.forEach((k, i) => rows.push({ scheme, dt: 1 / k, error: errors[i]!, order }));
    }
  } finally {
    exact.dispose();
  }
  return rows;
}
