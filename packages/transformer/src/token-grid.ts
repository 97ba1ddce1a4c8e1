/**
 * The token quadrature of a forward solve (paper §2–§3: the token index is a quadrature point of a continuous
 * token domain; docs/domains-and-quadrature.md, "Running a model on another token quadrature").
 *
 * The input u₀ `[B, N, d]` is read as a field on the midpoint grid of Ω_x = [0, 1] with N points,
 * `x_l = (l + ½)/N`. A token grid option picks the grid the solve runs on:
 *
 * - `'tokens'` (default): the tokens themselves (the standard grid of [0, N], unit weights): the checkpoint.
 * - `'uniform'`: the same N points on [0, 1] with weights 1/N. Attention normalises over the token integral, so
 *   this is the default up to float rounding; the values are not interpolated.
 * - `'gauss-legendre'`: the N Gauss–Legendre nodes ξ_i of [0, 1] with their weights; u₀ is interpolated there.
 * - `{ resample: M, rule?, order? }`: M points of `rule` (default `'uniform'`: midpoints, weights 1/M).
 *
 * When the grid differs from the token points, u₀ is interpolated onto it (Lagrange, `order` 4 (cubic, the
 * default) or 2 (linear): `u₀(ξ_i) ≈ Σ_l P_il u₀(x_l)`, error O(h^order)), the whole solve and the readout run
 * there, and the output is interpolated back to the N token positions with the same order, so the output is
 * always `[B, N, ·]`. Interpolation stencils are centred: a point of the solve's grid sees the tokens within
 * order/2 token spacings, and a token's output the grid points within order/2 grid spacings, so a causal model on a
 * resampled grid is causal only up to the stencils: about (order/2)·max(1, N/M) tokens of look-ahead.
 *
 * The solve's limit as M grows is the continuum solve of the piecewise-polynomial interpolant of the tokens (only
 * continuous at the tokens), evaluated back at the tokens; with M = N midpoints it is the checkpoint itself.
 */
import { tf, describeValue } from '@tide/backend';
import {
  field,
  gaussLegendreRule,
  interval,
  midpointRule,
  resampleTokens,
  type Field,
  type Grid,
  type InterpolationOrder,
} from '@tide/domain';
import { estimateForward, type ForwardEstimate } from './budget.js';
import { DiscretisationError } from './errors.js';
import type { SchemeName } from './discretisation.js';
import type { TransformerModel } from './model.js';

/** The rules a resampled token grid can use on [0, 1]. */
export type TokenGridRule = 'uniform' | 'gauss-legendre';

/**
 * The token quadrature a forward solve runs on (docs/domains-and-quadrature.md):
 * - `'tokens'` (default): one point per token, the checkpoint itself;
 * - `'uniform'`: the midpoint rule on [0, 1] with N points (weights 1/N): the default's outputs up to float rounding;
 * - `'gauss-legendre'`: the N Gauss–Legendre nodes and weights of [0, 1] (cubic interpolation in and out);
 * - `{ resample: M, rule?, order? }`: M points (1 ≤ M ≤ 4096) of `rule` (default `'uniform'`), Lagrange
 *   interpolation of `order` 4 (cubic, default) or 2 (linear) in and out.
 */
export type TokenGridOption =
  | 'tokens'
  | 'uniform'
  | 'gauss-legendre'
  | { readonly resample: number; readonly rule?: TokenGridRule; readonly order?: InterpolationOrder };

/** A checked token grid option (from {@link checkTokenGridOption}). */
export interface CheckedTokenGrid {
  /** `'tokens'`: the standard grid of the tokens; else the rule of the solve's grid on [0, 1]. */
  readonly rule: 'tokens' | TokenGridRule;
  /** M, or `undefined` for as many points as tokens. */
  readonly points: number | undefined;
  /** The interpolation order in and out. */
  readonly order: InterpolationOrder;
  /** Whether u₀ and the output are interpolated (false for `'tokens'` and `'uniform'`: the same points). */
  readonly resamples: boolean;
}

/** The most points a resampled token grid may have (as many as steps per layer). */
export const MAX_TOKEN_GRID_POINTS = 4096;

const EXPECTED = "'tokens', 'uniform', 'gauss-legendre' or { resample: M, rule?, order? }";
const OPTION_KEYS = ['resample', 'rule', 'order'];

/**
 * Checks a token grid option once, at the library boundary; `undefined` is `'tokens'`.
 * @throws DiscretisationError naming what was expected, what was received and the fix
 */
export function checkTokenGridOption(option: unknown): CheckedTokenGrid {
  if (option === undefined || option === 'tokens')
    return { rule: 'tokens', points: undefined, order: 4, resamples: false };
  if (option === 'uniform') return { rule: 'uniform', points: undefined, order: 4, resamples: false };
  if (option === 'gauss-legendre') return { rule: 'gauss-legendre', points: undefined, order: 4, resamples: true };
  if (typeof option !== 'object' || option === null || Array.isArray(option)) {
    throw new DiscretisationError('token grid', {
      expected: EXPECTED,
      received: describeValue(option),
      fix: "pass tokenGrid: 'gauss-legendre' or { resample: 64 }, or leave it out for the tokens themselves",
    });
  }
  const unknown = Object.keys(option).filter((k) => !OPTION_KEYS.includes(k));
  if (unknown.length > 0) {
    throw new DiscretisationError('token grid', {
      expected: '{ resample: M, rule?, order? }',
      received: `the key(s) ${unknown.map((k) => `'${k}'`).join(', ')}`,
      fix: "name the number of points `resample`, e.g. { resample: 64, rule: 'gauss-legendre', order: 4 }",
    });
  }
  const {
    resample: m,
    rule = 'uniform',
    order = 4,
  } = option as { resample?: unknown; rule?: unknown; order?: unknown };
  if (typeof m !== 'number' || !Number.isInteger(m) || m < 1 || m > MAX_TOKEN_GRID_POINTS) {
    throw new DiscretisationError('token grid: resample', {
      expected: `an integer number of points from 1 to ${MAX_TOKEN_GRID_POINTS}`,
      received: describeValue(m),
      fix: 'pass { resample: M } with M = 8, 16, 32, …',
    });
  }
  if (rule !== 'uniform' && rule !== 'gauss-legendre') {
    throw new DiscretisationError('token grid: rule', {
      expected: "'uniform' (midpoints) or 'gauss-legendre'",
      received: describeValue(rule),
      fix: "pass rule: 'uniform' or rule: 'gauss-legendre', or leave it out",
    });
  }
  if (order !== 2 && order !== 4) {
    throw new DiscretisationError('token grid: order', {
      expected: '2 (linear) or 4 (cubic) interpolation',
      received: describeValue(order),
      fix: 'pass order: 4 (the default) or order: 2',
    });
  }
  return { rule, points: m, order, resamples: true };
}

/**
 * Refuses per-sample token weights (padding) on a grid other than the tokens: padding is a property of the
 * token points and cannot be interpolated.
 * @throws DiscretisationError
 */
export function checkTokenGridInput(grid: CheckedTokenGrid, padded: boolean): void {
  if (padded && grid.rule !== 'tokens') {
    throw new DiscretisationError('token grid', {
      expected: "an input without tokenWeights (padding) when tokenGrid is not 'tokens'",
      received: `tokenWeights with ${describeTokenGrid(grid)}`,
      fix: 'run padded batches on the default token grid, or run each sample without its padding',
    });
  }
}

/** The number of points the solve runs on for N tokens: M, else N. */
export function solveTokenCount(grid: CheckedTokenGrid, tokens: number): number {
  return grid.points ?? tokens;
}

/** The token positions of N tokens on Ω_x = [0, 1]: the midpoint rule `x_l = (l + ½)/N`, weights 1/N. */
export function tokenPositions(tokens: number): Grid {
  return midpointRule(interval(0, 1), tokens);
}

/** The grid the solve runs on for N tokens, or `undefined` for `'tokens'` (the standard grid of [0, N]). */
export function solveGrid(grid: CheckedTokenGrid, tokens: number): Grid | undefined {
  if (grid.rule === 'tokens') return undefined;
  const m = solveTokenCount(grid, tokens);
  return grid.rule === 'gauss-legendre' ? gaussLegendreRule(interval(0, 1), m) : midpointRule(interval(0, 1), m);
}

/** A one-line description, e.g. `tokens on 32 Gauss–Legendre points of [0, 1] (cubic interpolation)`. */
export function describeTokenGrid(grid: CheckedTokenGrid): string {
  if (grid.rule === 'tokens') return 'one point per token';
  const rule = grid.rule === 'gauss-legendre' ? 'Gauss–Legendre points' : 'midpoints';
  const m = grid.points === undefined ? 'N' : String(grid.points);
  const how = grid.resamples ? `${grid.order === 4 ? 'cubic' : 'linear'} interpolation` : 'the token points';
  return `tokens on ${m} ${rule} of [0, 1] (${how})`;
}

/**
 * u₀ on the solve's grid: `u0` itself for `'tokens'`; else a new field the caller owns, `[B, M, d]`
 * (interpolated from the token positions `(l + ½)/N`, or the same values with weights 1/N for `'uniform'`).
 * `u0` is kept. Padded fields are refused earlier ({@link checkTokenGridInput}).
 */
export function toSolveGrid(u0: Field, grid: CheckedTokenGrid): Field {
  const target = solveGrid(grid, u0.tokens);
  if (target === undefined) return u0;
  if (!grid.resamples) return field(tf.clone(u0.values), { tokenGrid: target, featureGrid: u0.featureGrid }); // [B, N, d]
  const source = field(u0.values, { tokenGrid: tokenPositions(u0.tokens), featureGrid: u0.featureGrid }); // a view of u0: [B, N, d]
  return resampleTokens(source, target, { order: grid.order }); // [B, M, d]
}

/**
 * The output of the readout, `[B, M, ·]` on `from` (the solve's grid), back at the N token positions:
 * `values` itself when no interpolation is needed, else a new tensor `[B, N, ·]` the caller owns
 * (`values` is kept).
 */
export function toTokenPositions(values: tf.Tensor3D, from: Grid, tokens: number, grid: CheckedTokenGrid): tf.Tensor3D {
  if (!grid.resamples) return values; // [B, N, ·]
  const onGrid = field(values, { tokenGrid: from }); // a view of the caller's values: [B, M, ·]
  return resampleTokens(onGrid, tokenPositions(tokens), { order: grid.order }).values; // [B, N, ·]
}

/**
 * {@link estimateForward} for a solve on a token grid: the solve's memory and work at M points, plus, when the
 * grid resamples, the input kept at N tokens, the two interpolation matrices, the output at N tokens (and its
 * transpose inside the interpolation), and the two interpolation products `2·M·N·B·(d + out)`.
 */
export function estimateOnTokenGrid(
  model: TransformerModel,
  dims: { readonly batch: number; readonly tokens: number },
  grid: CheckedTokenGrid,
  options: {
    readonly scheme?: SchemeName;
    readonly stepsPerLayer?: number;
    readonly schedule?: 'piecewise' | 'linear';
    readonly saveSteps?: boolean;
  } = {},
): ForwardEstimate {
  const m = solveTokenCount(grid, dims.tokens);
  const estimate = estimateForward(model, { batch: dims.batch, tokens: m }, options);
  if (!grid.resamples) return estimate;
  const { batch: B, tokens: N } = dims;
  const d = model.config.dModel;
  const out = model.config.vocabSize ?? d;
  const F = 4; // float32
  const bytes = B * N * d * F + 2 * m * N * F + 2 * B * N * out * F; // u₀ at N, the two [M, N] matrices, the output at N
  const flops = 2 * m * N * B * (d + out);
  return { ...estimate, bytes: estimate.bytes + bytes, flops: estimate.flops + flops };
}
