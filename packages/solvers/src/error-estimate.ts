/**
 * What an adaptive solve needs from a scheme (paper §5, continuous depth; docs/continuous-depth.md): a trial
 * step that also estimates its local error. Embedded Runge–Kutta pairs get the estimate from their two
 * weightings of the same stages ({@link bogackiShampine}, {@link dormandPrince}); any other scheme gets it by
 * step doubling ({@link stepDoubling}).
 */
import type { tf } from '@tide/backend';
import type { Field } from '@tide/domain';
import type { StepContext } from './step-context.js';

/** A rate `G(u, t)` evaluated at one stage, which a later trial step may reuse (FSAL). */
export interface StageRate {
  /** `G(u, t)`, shape `[B, N_x, N_y]` (the state's). */
  readonly values: tf.Tensor;
  /**
   * The operators it was evaluated with. A step reuses it as its first stage only when the operators at its
   * start are these same objects (constants always are; a piecewise-constant θ(t) is, except across a jump).
   */
  readonly operators: readonly unknown[];
}

/** One trial step t_n → t_n + Δt with its error estimate; every tensor belongs to the caller's tidy. */
export interface TrialStep {
  /** The proposed u_{n+1}. */
  readonly u: Field;
  /** The estimated local error of u_{n+1} (or of the embedded solution), shape of `u`. */
  readonly error: tf.Tensor;
  /** The first stage's rate at (u_n, t_n): reusable by a retry of the same step after a rejection. */
  readonly first?: StageRate;
  /** The last stage's rate at (u_{n+1}, t_{n+1}) of an FSAL pair: the next step's first stage once accepted. */
  readonly last?: StageRate;
}

/** A scheme that estimates the local error of its steps. */
export interface ErrorEstimator {
  /**
   * k, the power of Δt in the local error estimate (the lower order of the pair + 1; p + 1 for step doubling
   * of an order-p scheme). The step-size controller divides its exponents by k.
   */
  readonly errorOrder: number;
  /**
   * One trial step from `u` at `context.tn` over `context.dt`. `first`, when given, is a rate at the start of
   * this step from an earlier evaluation (FSAL, or a rejected try of the same step): used if still valid.
   */
  trial(u: Field, context: StepContext, first?: StageRate): TrialStep;
  /** `G(u, t)` on its own (counted): Hairer's starting step and the first FSAL stage. Absent without a rate. */
  rateAt?(u: Field, t: number, context: StepContext): StageRate;
}

/** True for a scheme with an error estimate. */
export function estimatesError(scheme: unknown): scheme is ErrorEstimator {
  const s = scheme as Partial<ErrorEstimator> | null | undefined;
  return typeof s?.trial === 'function' && typeof s.errorOrder === 'number';
}
