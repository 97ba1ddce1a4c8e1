/**
 * The forward map of a loaded model, run as the time discretisation of the integro-differential equation:
 * embed (language models) → solve over [0, L] with the chosen scheme → the readout (final projection at t = T
 * when the model has one, then the LM head of a language model). Inputs are checked here, once
 * (docs/splitting-and-recovery.md). With a `tokenGrid` option the solve and the readout run on another token
 * quadrature of Ω_x = [0, 1] and the output is interpolated back to the tokens (docs/domains-and-quadrature.md).
 * With a `cache` (causal models) the solve is incremental: only the tokens appended after the cached ones are
 * solved, their attention reading the cached keys and values (docs/integral-attention.md, "Incremental causal
 * solves").
 */
import { tf, describeValue } from '@tide/backend';
import { KeyValueCache } from '@tide/attention';
import { field, type Field } from '@tide/domain';
import { solve, type Solution, type SolverStatistics } from '@tide/solvers';
import { embedTokens, offsetTokenGrid } from './embedding.js';
import { DiscretisationError, InputError } from './errors.js';
import { isLanguageModel, type TransformerModel } from './model.js';
import { checkForwardBudget, estimateForward, type ForwardBudget } from './budget.js';
import {
  ADAPTIVE_SCHEMES,
  checkDiscretisationOptions,
  discretise,
  type DiscretisationOptions,
} from './discretisation.js';
import {
  checkTokenGridInput,
  checkTokenGridOption,
  describeTokenGrid,
  estimateOnTokenGrid,
  toSolveGrid,
  toTokenPositions,
  type CheckedTokenGrid,
  type TokenGridOption,
} from './token-grid.js';

/** What to run the model on. */
export interface ForwardInput {
  /** Encoders: hidden states `[B, N, d]` (float32). */
  readonly input?: tf.Tensor3D;
  /** GPT-2: token ids `[B, N]` (int32). */
  readonly inputIds?: tf.Tensor2D;
  /** Optional per-sample token weights `[B, N]` (0 = padding: PyTorch's src_key_padding_mask). */
  readonly tokenWeights?: ArrayLike<number> | readonly ArrayLike<number>[];
  /** What to call the input in errors (e.g. a file and tensor name); default `input` / `input_ids`. */
  readonly source?: string;
}

/** Options of {@link forward}. */
export interface ForwardOptions extends DiscretisationOptions {
  /** Save the state at every layer boundary (t = 0, 1, …, L) in the result. */
  readonly saveLayers?: boolean;
  /** Save the state at every step boundary instead (k per layer). */
  readonly saveSteps?: boolean;
  /** Called after each sub-step (diagnostics). */
  readonly onSubStep?: Parameters<typeof solve>[2]['onSubStep'];
  /** Memory and work limits, checked from the shapes before anything is allocated (defaults: 2 GiB, 10¹³). */
  readonly budget?: ForwardBudget;
  /**
   * Read out only the last token (`output` is `[B, 1, ·]`): what generation needs. The readout is pointwise in x,
   * so this is the full output's last row, without the LM head's work on every other position. Only on the
   * default token grid (a resampled grid's output is interpolated from every point).
   */
  readonly lastTokenOnly?: boolean;
  /**
   * The token quadrature the solve runs on (docs/domains-and-quadrature.md); default: the tokens themselves.
   *
   * The input u₀ `[B, N, d]` (embedded tokens, or an encoder's hidden states) is a field on the midpoint grid of
   * Ω_x = [0, 1] with N points `(l + ½)/N`. `'uniform'` keeps those points with weights 1/N (the default's output up
   * to float rounding); `'gauss-legendre'` (N nodes) and `{ resample: M, rule?, order? }` (M points, 1 ≤ M ≤ 4096,
   * midpoints or Gauss–Legendre) interpolate u₀ onto the new points (Lagrange, order 4 by default, or 2), run the
   * solve and the readout there, and interpolate the output back to the N token positions: `output` is always
   * `[B, N, ·]`. `states` stay on the solve's grid (each Field carries it). Padded inputs (`tokenWeights`) are
   * refused on any grid but `'tokens'`. The budget is checked at M points. Interpolation stencils are centred, so
   * on a resampled grid a causal model is causal only up to the stencils: a token's output sees about
   * (order/2)·max(1, N/M) tokens to its right (two with cubic interpolation when M ≥ N; all of them when M ≤ order).
   */
  readonly tokenGrid?: TokenGridOption;
  /**
   * A key/value cache: solve incrementally (docs/integral-attention.md, "Incremental causal solves"). The input
   * holds only the n tokens appended after the `cache.tokens` ones the cache holds (positions N_past …
   * N_past + n − 1); every attention evaluation of the solve reads its slot's cached keys and values and stages
   * the new tokens' ones, which join the cache when the solve succeeds (a failed solve leaves it unchanged).
   * `output` is the new tokens' rows only, `[B, n, ·]`: the rows of a full solve of all N_past + n tokens. For
   * causal models on the default token grid, without `tokenWeights`; use one cache per model and
   * discretisation (the same scheme and steps on every call). The caller owns the cache (dispose it).
   */
  readonly cache?: KeyValueCache;
  /**
   * The position of the first input token (default: `cache.tokens` with a cache, else 0): token ids take the
   * position embeddings `wpe[p …]` and the tokens sit at p + l + ½ on the token grid. With a cache it must equal
   * `cache.tokens`.
   */
  readonly positionOffset?: number;
}

/** The output of a forward run. The caller owns `output` and `layers`. */
export interface ForwardResult {
  /** Hidden states `[B, N, d]` (encoders) or logits `[B, N, V]` (GPT-2). */
  readonly output: tf.Tensor3D;
  /** With `saveLayers` (or `saveSteps`): the states at t = 0, 1, …, L (before the readout), on the solve's token grid. */
  readonly states: readonly Field[];
  readonly stats: SolverStatistics;
  readonly description: string;
}

/** A number per model object, so that a cache refuses a solve of another model (see KeyValueCache.reset). */
const modelIds = new WeakMap<TransformerModel, number>();
let modelCount = 0;
function modelId(model: TransformerModel): number {
  const known = modelIds.get(model);
  if (known !== undefined) return known;
  modelIds.set(model, ++modelCount);
  return modelCount;
}

/**
 * Checks the cache and the position offset against the model, the input and the token grid; returns the
 * position of the first input token.
 */
function checkIncremental(
  model: TransformerModel,
  input: ForwardInput,
  options: ForwardOptions,
  grid: CheckedTokenGrid,
): number {
  const cache = options.cache;
  const offset = options.positionOffset ?? (cache instanceof KeyValueCache ? cache.tokens : 0);
  if (!Number.isInteger(offset) || offset < 0)
    throw new InputError('forward: positionOffset', {
      expected: 'an integer ≥ 0 (the tokens before the input)',
      received: describeValue(offset),
      fix: 'leave it out for 0 (or, with a cache, for cache.tokens)',
    });
  if (cache === undefined) return offset;
  if (ADAPTIVE_SCHEMES.includes(options.scheme ?? 'lie'))
    throw new DiscretisationError('forward: cache', {
      expected:
        'a scheme whose attention evaluations are the same for every token (exact, lie, strang, euler, heun, rk4)',
      received: `'${options.scheme}'`,
      fix: 'embedded pairs reuse stages across steps and adaptive steps depend on every token: run a full solve, or use rk4 with the cache',
    });
  if (!(cache instanceof KeyValueCache))
    throw new InputError('forward: cache', {
      expected: 'a KeyValueCache from @tide/attention',
      received: describeValue(cache),
      fix: 'pass new KeyValueCache() (and dispose it after the last call), or leave cache out',
    });
  if (!model.config.causal)
    throw new InputError('forward: cache', {
      expected: 'a causal model (GPT-2, or an encoder run with a causal mask)',
      received: `a non-causal ${model.config.layout} model`,
      fix: 'without the causal sub-domain every token attends to the appended ones, so cached keys and values go stale: run a full solve',
    });
  if (grid.rule !== 'tokens')
    throw new DiscretisationError('forward: cache', {
      expected: "the default token grid ('tokens') for an incremental solve",
      received: describeTokenGrid(grid),
      fix: 'a resampled token grid interpolates across tokens, so earlier tokens see later ones: run a full solve',
    });
  if (input?.tokenWeights !== undefined)
    throw new InputError('forward: cache', {
      expected: 'an input without tokenWeights (padding) for an incremental solve',
      received: 'tokenWeights',
      fix: 'append unpadded tokens, one cache per batch of equal-length sequences',
    });
  if (offset !== cache.tokens)
    throw new InputError('forward: positionOffset', {
      expected: `the number of cached tokens, ${cache.tokens} (the input continues the cached sequence)`,
      received: String(offset),
      fix: 'leave positionOffset out with a cache, or clear() the cache to start at position 0',
    });
  return offset;
}

/** The initial field u(·,·,0) of an input: embedded token ids, or checked hidden states (positions from `offset`). */
function initialField(model: TransformerModel, input: ForwardInput, offset: number): Field {
  if (typeof input !== 'object' || input === null)
    throw new InputError('input', {
      expected: '{ input } (hidden states) or { inputIds } (token ids)',
      received: describeValue(input),
      fix: 'pass an object',
    });
  if (isLanguageModel(model)) {
    if (input.inputIds === undefined)
      throw new InputError('input', {
        expected: 'input_ids [B, N] for a language model',
        received: input.input ? 'hidden states `input`' : 'nothing',
        fix: 'pass token ids',
      });
    return embedTokens(model, input.inputIds, input.source ?? 'input_ids', { positionOffset: offset });
  }
  const d = model.config.dModel;
  const x = input.input;
  const source = input.source ?? 'input';
  if (!(x instanceof tf.Tensor) || x.rank !== 3 || x.shape[2] !== d || x.shape[0] === 0 || x.shape[1] === 0) {
    throw new InputError(source, {
      expected: `float32 hidden states [B ≥ 1, N ≥ 1, ${d}]`,
      received: describeValue(x),
      fix: `the encoder's d_model is ${d}`,
    });
  }
  if (x.dtype !== 'float32')
    throw new InputError(source, { expected: 'float32', received: x.dtype, fix: 'cast the input to float32' });
  const finite = tf.tidy(() => tf.all(tf.isFinite(x)).dataSync()[0]);
  if (!finite)
    throw new InputError(source, { expected: 'finite values', received: 'NaN or ±Inf', fix: 'clean the input' });
  return field(tf.clone(x), {
    ...(offset > 0 && { tokenGrid: offsetTokenGrid(offset, x.shape[1]) }),
    ...(input.tokenWeights !== undefined && { tokenWeights: input.tokenWeights }),
  });
}

/**
 * Runs a model on its input with a discretisation (default: Lie splitting with one step per layer — for a trained network, the network itself; see `recommendedDiscretisation` for a checkpoint's own) and a token grid (default: the
 * tokens); with `cache`, incrementally on the tokens appended to the cached ones.
 */
export function forward(model: TransformerModel, input: ForwardInput, options: ForwardOptions = {}): ForwardResult {
  // The budget first, from the input's shape and the checked options, before any operator or field is built.
  const checked = checkDiscretisationOptions(options ?? {});
  const grid = checkTokenGridOption(options?.tokenGrid);
  checkTokenGridInput(grid, input?.tokenWeights !== undefined);
  const offset = checkIncremental(model, input, options ?? {}, grid);
  const cache = options?.cache;
  if (options?.lastTokenOnly !== undefined && typeof options.lastTokenOnly !== 'boolean')
    throw new InputError('forward: lastTokenOnly', {
      expected: 'true or false',
      received: describeValue(options.lastTokenOnly),
      fix: 'leave it out for every token',
    });
  if (options?.lastTokenOnly && input?.tokenWeights !== undefined)
    throw new InputError('forward: lastTokenOnly', {
      expected: 'an input without tokenWeights (padding)',
      received: 'tokenWeights',
      fix: "each sample's last real token sits elsewhere under padding: read out all tokens and pick them",
    });
  if (options?.lastTokenOnly && grid.rule !== 'tokens')
    throw new DiscretisationError('forward: lastTokenOnly', {
      expected: "the default token grid ('tokens')",
      received: describeTokenGrid(grid),
      fix: "a resampled grid's output at a token is interpolated from every point: read out all tokens",
    });
  if (checked.tolerance !== undefined && (options.saveSteps || options.onSubStep))
    throw new DiscretisationError('tolerance', {
      expected: 'saveLayers or no saved states with an adaptive solve',
      received: options.saveSteps ? 'saveSteps' : 'onSubStep',
      fix: 'trial steps can be rejected: save the layer boundaries (saveLayers), or use fixed steps',
    });
  const given = input?.inputIds ?? input?.input; // [B, N] or [B, N, d]; the rest is checked by initialField
  if (given instanceof tf.Tensor && given.rank >= 2 && given.shape[0]! > 0 && given.shape[1]! > 0) {
    const [batch, tokens] = given.shape as [number, number];
    const saveSteps = options.saveSteps ?? false;
    const estimate =
      cache === undefined
        ? estimateOnTokenGrid(model, { batch, tokens }, grid, { ...checked, saveSteps })
        : estimateForward(model, { batch, tokens, keys: offset + tokens }, { ...checked, saveSteps });
    checkForwardBudget(estimate, options.budget);
  }
  const disc = discretise(model, options ?? {}, cache === undefined ? {} : { cache });
  const description =
    cache !== undefined
      ? `${disc.description}, key/value cache (${offset} cached token(s))`
      : grid.rule === 'tokens'
        ? disc.description
        : `${disc.description}, ${describeTokenGrid(grid)}`;
  let u0: Field | undefined;
  let onGrid: Field | undefined;
  let sol: Solution | undefined;
  let readout: tf.Tensor3D | undefined;
  try {
    u0 = initialField(model, input, offset); // [B, N, d]
    onGrid = toSolveGrid(u0, grid); // [B, M, d]: u0 itself on the default grid
    cache?.reset(`model #${modelId(model)}, ${disc.description}`); // slot 0: the solve's first attention evaluation
    sol = solve(onGrid, disc.scheme, {
      t1: disc.t1,
      step: disc.tolerance ?? { stepsPerUnit: disc.stepsPerLayer },
      ...(options.saveLayers && { saveAt: Array.from({ length: disc.t1 + 1 }, (_, i) => i) }),
      ...(options.saveSteps && { saveAt: 'steps' as const }),
      ...(options.onSubStep && { onSubStep: options.onSubStep }),
    });
    const solveGrid = sol.u.tokenGrid;
    if (options.lastTokenOnly) {
      const [b, m, d] = sol.u.values.shape;
      const last = field(tf.slice(sol.u.values, [0, m - 1, 0], [b, 1, d])); // [B, 1, d]
      try {
        readout = disc.readout(last); // [B, 1, d] or [B, 1, V]
      } finally {
        last.dispose();
      }
      sol.u.dispose();
      cache?.commit();
      return { output: readout, states: sol.states, stats: sol.stats, description };
    }
    readout = disc.readout(sol.u); // [B, M, d] or [B, M, V]
    sol.u.dispose();
    cache?.commit(); // the new tokens' keys and values join the cache
    const output = toTokenPositions(readout, solveGrid, u0.tokens, grid); // [B, N, d] or [B, N, V]
    if (output !== readout) readout.dispose();
    return { output, states: sol.states, stats: sol.stats, description };
  } catch (error) {
    cache?.rollback(); // a failed solve leaves the cache as it was
    sol?.dispose();
    readout?.dispose();
    throw error;
  } finally {
    if (onGrid !== u0) onGrid?.dispose();
    u0?.dispose();
    disc.dispose();
  }
}
