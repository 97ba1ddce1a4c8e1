/**
 * The PI step-size controller of adaptive solves (docs/continuous-depth.md). After a step with scaled error
 * err_n (see `error-norm.ts`) and the previous accepted step's err_{n−1}, the next step is
 *
 *     Δt_{n+1} = Δt_n · clamp( safety · err_n^(−β₁/k) · err_{n−1}^(β₂/k),  minFactor, maxFactor )
 *
 * with k the power of Δt in the error estimate (the pair's lower order + 1) and the gains β₁ = 0.7, β₂ = 0.4:
 * the integral gain k_I = 0.3/k and proportional gain k_P = 0.4/k of K. Gustafsson, "Control theoretic
 * techniques for stepsize selection in explicit Runge–Kutta methods", ACM TOMS 17(4), 533–554 (1991), as
 * presented in Hairer & Wanner, Solving ODEs II, §IV.2 ("PI step size control"), and G. Söderlind,
 * "Automatic control and adaptive time-stepping", Numer. Algorithms 31, 281–310 (2002). safety = 0.9,
 * minFactor = 0.2 and maxFactor = 10 are the defaults of Hairer's DOPRI5 (Solving ODEs I, §II.4). After a
 * rejection the step shrinks by the elementary controller `safety · err^(−1/k)` (at least ×minFactor; ×minFactor
 * for a non-finite trial), and the step after a rejection may not grow (maxFactor = 1 there, Solving ODEs I,
 * §II.4). err is floored at 1e-4 in the P term, as DOPRI5 floors it.
 */

/** The controller constants (see the file's documentation for their sources). */
export const PI_CONTROLLER = Object.freeze({
  safety: 0.9,
  beta1: 0.7,
  beta2: 0.4,
  minFactor: 0.2,
  maxFactor: 10,
  errorFloor: 1e-4,
});

/**
 * The factor Δt_{n+1}/Δt_n after an accepted step with scaled error `err` (≤ 1), the previous accepted step's
 * `previous` (1 for the first step) and error power `k`; at most 1 right after a rejection.
 */
export function acceptedFactor(err: number, previous: number, k: number, afterRejection: boolean): number {
  const { safety, beta1, beta2, minFactor, maxFactor, errorFloor } = PI_CONTROLLER;
  const e = Math.max(err, errorFloor);
  const factor = safety * e ** (-beta1 / k) * Math.max(previous, errorFloor) ** (beta2 / k);
  return Math.min(afterRejection ? 1 : maxFactor, Math.max(minFactor, factor));
}

/** The factor by which a rejected step (scaled error `err` > 1, or NaN) shrinks before it is retried. */
export function rejectedFactor(err: number, k: number): number {
  const { safety, minFactor } = PI_CONTROLLER;
  if (!Number.isFinite(err)) return minFactor;
  return Math.min(safety, Math.max(minFactor, safety * err ** (-1 / k)));
}
