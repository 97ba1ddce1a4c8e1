/**
 * A memory and work budget for a forward solve, estimated from shapes, scheme and steps before anything is
 * allocated (docs/splitting-and-recovery.md). A hostile or mistaken input — `input_ids` of shape [100000, 64],
 * 20,000 tokens on the plain attention path, a million steps per layer — is refused with a one-line error that
 * names the option (and CLI flag) to raise, instead of growing until the wasm heap dies.
 *
 * The estimate is an upper bound of the live tensors at the widest point of one step, not an exact profile:
 * the state and its stages, the attention scores of the evaluation path tfjs will take, the FFN's hidden
 * field, the saved states and the output.
 */
import { TideError, defaultAttentionBlock, describeValue } from '@tide/backend';
import { attentionPath } from '@tide/attention';
import { checkControlsOptions, checkDiscretisationOptions, type SchemeName } from './discretisation.js';
import type { TransformerModel } from './model.js';

/** A budget was exceeded, or budget options are invalid. */
export class BudgetError extends TideError {}

/** Limits of a solve; either may be `Infinity`. */
export interface ForwardBudget {
  /** Bytes of live tensors at the widest point (default {@link DEFAULT_MAX_BYTES}). */
  readonly maxBytes?: number;
  /** Floating-point operations of the whole solve (default {@link DEFAULT_MAX_FLOPS}). */
  readonly maxFlops?: number;
}

/** 2 GiB: half of what the wasm backend can address (4 GiB), so that a refused input never reaches it. */
export const DEFAULT_MAX_BYTES = 2 * 2 ** 30;
/** 10¹³ operations: minutes on one CPU core; far above any embedded or fixture model. */
export const DEFAULT_MAX_FLOPS = 1e13;

/** What a forward solve will cost, by the estimate of {@link estimateForward}. */
export interface ForwardEstimate {
  readonly bytes: number;
  readonly flops: number;
  /** Time steps of the solve (layers × steps per layer). */
  readonly steps: number;
  /** Rate evaluations per step (stages of the scheme), for the work. */
  readonly evaluationsPerStep: number;
  readonly attentionPath: 'plain' | 'blocked' | 'fused';
}

/** Rate evaluations and live stage fields of one step of each scheme (post-LN: Lie with its 8 sub-steps). */
const SCHEME_COST: Record<SchemeName, { evaluations: number; stages: number }> = {
  exact: { evaluations: 2, stages: 3 },
  lie: { evaluations: 2, stages: 3 },
  euler: { evaluations: 2, stages: 3 },
  heun: { evaluations: 4, stages: 4 },
  strang: { evaluations: 6, stages: 4 },
  rk4: { evaluations: 8, stages: 7 },
  // Embedded pairs: 7 (4) stages of two rates, the stages plus the two solutions and the error estimate live.
  // An adaptive solve's steps are not known in advance: it is estimated as one step per layer.
  dopri5: { evaluations: 14, stages: 10 },
  bosh3: { evaluations: 8, stages: 7 },
};

/** Attention evaluations per step of each scheme (the key/value cache's slots per layer and step); Strang and Heun stages count. */
export const ATTENTION_EVALUATIONS_PER_STEP: Readonly<Record<SchemeName, number>> = Object.freeze({
  exact: 1,
  lie: 1,
  euler: 1,
  heun: 2,
  strang: 2, // G₁ for a full step with Heun's method: two evaluations
  rk4: 4,
  dopri5: 7, // fixed steps: 7 stages, the last reused as the next step's first within a layer
  bosh3: 4,
});

/**
 * Estimates the memory and work of `forward(model, input, { scheme, stepsPerLayer, saveSteps })` for an
 * input of `batch` sequences of `tokens` tokens. Pure arithmetic: nothing is allocated. The depth is
 * `config.numLayers` (T); a model with smooth controls also counts θ(t) built from its K coefficient sets at every
 * stage (one layer's parameters live, K scaled adds of each).
 *
 * `keys` (default `tokens`): the tokens each query's attention runs over. An incremental solve with a key/value
 * cache appends `tokens` new tokens to `keys − tokens` cached ones: its scores are `tokens × keys`, and the
 * cache's keys and values (`keys` tokens per slot, twice during the pass) count in the memory.
 */
export function estimateForward(
  model: TransformerModel,
  dims: { readonly batch: number; readonly tokens: number; readonly keys?: number },
  options: {
    readonly scheme?: SchemeName;
    readonly stepsPerLayer?: number;
    readonly schedule?: 'piecewise' | 'linear';
    readonly saveSteps?: boolean;
  } = {},
): ForwardEstimate {
  const { batch: B, tokens: N } = dims;
  const K = dims.keys ?? N;
  for (const [name, v] of [
    ['batch', B],
    ['tokens', N],
    ['keys', K],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 1) {
      throw new BudgetError(`estimateForward: ${name}`, {
        expected: 'a positive integer',
        received: describeValue(v),
        fix: 'pass the input shape [B, N]',
      });
    }
  }
  const c = model.config;
  const { scheme, stepsPerLayer: k } = checkDiscretisationOptions(options);
  checkControlsOptions(c, options);
  const cost = SCHEME_COST[scheme];
  const steps = c.numLayers * k;
  const d = c.dModel;
  const f = c.dFeedforward;
  const H = c.heads;
  const F = 4; // float32
  const field = B * N * d * F;
  if (K < N) {
    throw new BudgetError('estimateForward: keys', {
      expected: `at least the ${N} tokens (cached + new tokens)`,
      received: String(K),
      fix: 'pass keys = N_past + tokens, or leave it out',
    });
  }
  const incremental = K > N;
  // With cached keys the new tokens' scores are [n, N_past + n] on the plain path; else the path tfjs will take.
  const path = incremental ? 'plain' : attentionPath({ causal: c.causal }, N);
  const scoreRows = path === 'plain' ? N : path === 'blocked' ? defaultAttentionBlock(N, B * H) : Math.min(N, 64);
  const scores = 2 * B * H * scoreRows * K * F; // scores and probabilities of the rows evaluated at once
  const qkv = 4 * field + (incremental ? 2 * B * K * d * F : 0); // Q, K, V and the output; with a cache, past + new keys and values
  const hidden = 2 * B * N * f * F; // the FFN's hidden field and its activation
  const output = c.vocabSize !== undefined ? 2 * B * N * c.vocabSize * F : field; // logits (and their readout)
  const saved = options.saveSteps ? (steps + 1) * field : 0;
  const slots = steps * ATTENTION_EVALUATIONS_PER_STEP[scheme];
  const cache = incremental ? 2 * slots * 2 * B * K * d * F : 0; // committed and staged keys and values per slot
  // Smooth controls: every evaluation time builds θ(t) = Σ_k c_k P_k(s) from the K coefficient sets — one layer's
  // parameters live (and a partial sum) per evaluation, K scaled adds of every parameter each time.
  const layerParameters = 4 * d * d + 4 * d + 2 * d * f + f + d + 4 * d; // attention, FFN, two affine maps
  const controls = c.controls?.coefficients ?? 0;
  const theta = controls > 0 ? 2 * layerParameters * F : 0;
  const bytes = cost.stages * field + Math.max(scores + qkv, hidden) + output + saved + cache + theta;
  // Work per rate evaluation: the four d×d maps, the two FFN maps, and the N×K scores and their use.
  const perEvaluation = B * (2 * N * d * 4 * d + 2 * N * d * 2 * f + 2 * 2 * N * K * d);
  const readout = c.vocabSize !== undefined ? 2 * B * N * d * c.vocabSize : 0;
  const controlWork = steps * cost.evaluations * controls * layerParameters; // 2K flops per parameter per stage
  const flops = (steps * cost.evaluations * perEvaluation) / 2 + readout + controlWork; // a rate evaluation is half a layer
  return { bytes, flops, steps, evaluationsPerStep: cost.evaluations, attentionPath: path };
}

function limit(name: 'maxBytes' | 'maxFlops', value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value) || value <= 0) {
    throw new BudgetError(`budget: ${name}`, {
      expected: 'a number > 0 (Infinity for no limit)',
      received: describeValue(value),
      fix: `pass a positive ${name}`,
    });
  }
  return value;
}

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

/** Throws a {@link BudgetError} when an estimate exceeds the budget; the message names what to raise. */
export function checkForwardBudget(estimate: ForwardEstimate, budget: ForwardBudget = {}): void {
  const maxBytes = limit('maxBytes', budget.maxBytes, DEFAULT_MAX_BYTES);
  const maxFlops = limit('maxFlops', budget.maxFlops, DEFAULT_MAX_FLOPS);
  if (estimate.bytes > maxBytes) {
    throw new BudgetError('forward: memory budget', {
      expected: `at most ${gib(maxBytes)} of tensors`,
      received: `an input that needs about ${gib(estimate.bytes)} (${estimate.attentionPath} attention, ${estimate.steps} steps)`,
      fix: 'use a smaller batch or fewer tokens, or raise the budget (budget.maxBytes; tide: --max-memory GIB)',
    });
  }
  if (estimate.flops > maxFlops) {
    throw new BudgetError('forward: work budget', {
      expected: `at most ${maxFlops.toExponential(1)} floating-point operations`,
      received: `a solve of about ${estimate.flops.toExponential(1)} (${estimate.steps} steps × ${estimate.evaluationsPerStep} evaluations)`,
      fix: 'use fewer steps per layer or a smaller input, or raise the budget (budget.maxFlops; tide: --max-work GFLOP)',
    });
  }
}
