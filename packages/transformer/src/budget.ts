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
import { checkDiscretisationOptions, type SchemeName } from './discretisation.js';
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
};

/**
 * Estimates the memory and work of `forward(model, input, { scheme, stepsPerLayer, saveSteps })` for an
 * input of `batch` sequences of `tokens` tokens. Pure arithmetic: nothing is allocated.
 */
export function estimateForward(
  model: TransformerModel,
  dims: { readonly batch: number; readonly tokens: number },
  options: {
    readonly scheme?: SchemeName;
    readonly stepsPerLayer?: number;
    readonly schedule?: 'piecewise' | 'linear';
    readonly saveSteps?: boolean;
  } = {},
): ForwardEstimate {
  const { batch: B, tokens: N } = dims;
  for (const [name, v] of [
    ['batch', B],
    ['tokens', N],
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
  const cost = SCHEME_COST[scheme];
  const steps = c.numLayers * k;
  const d = c.dModel;
  const f = c.dFeedforward;
  const H = c.heads;
  const F = 4; // float32
  const field = B * N * d * F;
  const path = attentionPath({ causal: c.causal }, N);
  const scoreRows = path === 'plain' ? N : path === 'blocked' ? defaultAttentionBlock(N) : Math.min(N, 64);
  const scores = 2 * B * H * scoreRows * N * F; // scores and probabilities of the rows evaluated at once
  const qkv = 4 * field; // Q, K, V and the attention output
  const hidden = 2 * B * N * f * F; // the FFN's hidden field and its activation
  const output = c.vocabSize !== undefined ? 2 * B * N * c.vocabSize * F : field; // logits (and their readout)
  const saved = options.saveSteps ? (steps + 1) * field : 0;
  const bytes = cost.stages * field + Math.max(scores + qkv, hidden) + output + saved;
  // Work per rate evaluation: the four d×d maps, the two FFN maps, and the N×N scores and their use.
  const perEvaluation = B * (2 * N * d * 4 * d + 2 * N * d * 2 * f + 2 * 2 * N * N * d);
  const readout = c.vocabSize !== undefined ? 2 * B * N * d * c.vocabSize : 0;
  const flops = (steps * cost.evaluations * perEvaluation) / 2 + readout; // a rate evaluation is half a layer
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
