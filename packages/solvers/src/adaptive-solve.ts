/**
 * The adaptive branch of `solve` (paper §5, continuous depth; docs/continuous-depth.md): steps chosen to meet a
 * tolerance instead of a uniform grid. Each trial step of the scheme comes with a local error estimate e
 * (embedded pair or step doubling); its scaled norm err (`error-norm.ts`) accepts the step when err ≤ 1, and the
 * PI controller (`controller.ts`) picks the next Δt. Steps are clipped to end exactly at every save time, every
 * jump of a schedule (and `jumpTimes`) and at t1, so saved states are the solution at the asked times (no dense
 * output). Memory: as a fixed-step solve — the input is kept; every trial's intermediates, rejected trials
 * included, are disposed; the carried first-stage rate (FSAL) is disposed when replaced and at the end.
 */
import { tf, describeValue } from '@tide/backend';
import type { Field } from '@tide/domain';
import { acceptedFactor, rejectedFactor } from './controller.js';
import { estimatesError, type ErrorEstimator, type StageRate } from './error-estimate.js';
import { scaledErrorNorm } from './error-norm.js';
import { SolverError } from './errors.js';
import { hairerInitialStep, simpleInitialStep } from './initial-step.js';
import { checkCoverage, isSchedule } from './schedule.js';
import type { Scheme } from './schemes.js';
import { StepContext, newStatistics, type AdaptiveStatistics } from './step-context.js';

/**
 * Step-size control to a tolerance: `solve(u0, scheme, { t1, step: { rtol, atol } })` with a scheme that
 * estimates its error (`bogackiShampine`, `dormandPrince`, or `stepDoubling(scheme)`).
 */
export interface AdaptiveStepControl {
  /** Relative tolerance, finite and > 0 (float32 states resolve down to about 1e-6). */
  readonly rtol: number;
  /** Absolute tolerance, finite and > 0: the error allowed where u ≈ 0. */
  readonly atol: number;
  /** The first trial step (default: Hairer's starting step with a rate, else `min(1, t1 − t0)·rtol^(1/k)`). */
  readonly initialStep?: number;
  /** The smallest step the controller may shrink to after a rejection (default 0: only float64 underflow, t + Δt = t). */
  readonly minStep?: number;
  /** The most trial steps, accepted and rejected together (default 10 000). */
  readonly maxSteps?: number;
  /** Times where θ(t) or an operator jumps, besides the schedules' own `jumps`: steps end exactly there. */
  readonly jumpTimes?: readonly number[];
}

/** True when a step control asks for an adaptive solve (it names a tolerance). */
export function isAdaptive(control: unknown): control is AdaptiveStepControl {
  return typeof control === 'object' && control !== null && ('rtol' in control || 'atol' in control);
}

/** What the adaptive branch returns to `solve`. */
export interface AdaptiveResult {
  readonly u: Field;
  readonly ts: number[];
  readonly states: Field[];
  readonly stats: ReturnType<typeof newStatistics>;
}

const DEFAULT_MAX_STEPS = 10_000;

function positive(name: string, value: unknown, fix: string, allowZero = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new SolverError(`solve: step.${name}`, {
      expected: `a finite ${name} ${allowZero ? '≥' : '>'} 0`,
      received: describeValue(value),
      fix,
    });
  }
  return value;
}

function checkControl(control: AdaptiveStepControl, span: number) {
  const tolFix = 'e.g. { rtol: 1e-4, atol: 1e-6 }; float32 states resolve rtol down to about 1e-6';
  const rtol = positive('rtol', control.rtol, tolFix);
  const atol = positive('atol', control.atol, tolFix);
  const initialStep =
    control.initialStep === undefined
      ? undefined
      : Math.min(span, positive('initialStep', control.initialStep, 'omit it for the starting-step rule'));
  const minStep = positive('minStep', control.minStep ?? 0, 'omit it to stop only at float64 underflow', true);
  const maxSteps = control.maxSteps ?? DEFAULT_MAX_STEPS;
  if (!Number.isInteger(maxSteps) || maxSteps < 1) {
    throw new SolverError('solve: step.maxSteps', {
      expected: 'an integer ≥ 1 (trial steps, accepted and rejected)',
      received: describeValue(maxSteps),
      fix: `omit it for ${DEFAULT_MAX_STEPS}`,
    });
  }
  const jumpTimes = control.jumpTimes ?? [];
  if (!Array.isArray(jumpTimes) || jumpTimes.some((t) => typeof t !== 'number' || !Number.isFinite(t))) {
    throw new SolverError('solve: step.jumpTimes', {
      expected: 'a list of finite times',
      received: describeValue(jumpTimes),
      fix: 'list the times where θ(t) jumps, e.g. the layer boundaries 1, 2, …',
    });
  }
  return { rtol, atol, initialStep, minStep, maxSteps, jumpTimes };
}

/** Sorted, de-duplicated times strictly inside (t0, t1]. */
function stopsWithin(times: readonly number[], t0: number, t1: number): number[] {
  const tol = 1e-12 * Math.max(1, Math.abs(t0), Math.abs(t1)); // as `near` in adaptiveSolve
  const inside = times.filter((t) => t > t0 + tol && t < t1 - tol).sort((a, b) => a - b);
  return [...inside.filter((t, i) => i === 0 || t - inside[i - 1]! > tol), t1];
}

/** Throws unless every entry of u0 is finite (one read of a scalar). */
function checkFinite(u0: Field): void {
  const flag = tf.tidy(() => tf.sum(tf.mul(u0.values, 0)));
  const value = flag.dataSync()[0]!;
  flag.dispose();
  if (!Number.isFinite(value)) {
    throw new SolverError('solve: u0', {
      expected: 'a finite initial state',
      received: 'NaN or ±Infinity in u0',
      fix: 'check the embedding or the previous solve that produced u0',
    });
  }
}

/** The adaptive solve; `solve` has checked u0, the scheme object and the span. */
export function adaptiveSolve(
  u0: Field,
  scheme: Scheme,
  span: { t0: number; t1: number; saveAt: readonly number[] | 'steps' | undefined; observed: boolean },
  control: AdaptiveStepControl,
): AdaptiveResult {
  const { t0, t1 } = span;
  if (!estimatesError(scheme)) {
    throw new SolverError('solve: step', {
      expected:
        'with rtol/atol, a scheme that estimates its error: bogackiShampine, dormandPrince or stepDoubling(scheme)',
      received: `the '${scheme.kind}' scheme "${scheme.name}"`,
      fix: `wrap it, stepDoubling(${scheme.name}) — or give a fixed step { dt } or { stepsPerUnit }`,
    });
  }
  const estimator: ErrorEstimator = scheme;
  if (span.observed) {
    throw new SolverError('solve: onSubStep', {
      expected: 'no sub-step observer in an adaptive solve',
      received: 'an onSubStep callback',
      fix: 'observe a fixed-step solve: trial steps of an adaptive one may be rejected',
    });
  }
  const { rtol, atol, initialStep, minStep, maxSteps, jumpTimes } = checkControl(control, t1 - t0);
  for (const { role, value } of scheme.operators) checkCoverage(role, value, t0, t1);
  const jumps = [
    ...jumpTimes,
    ...scheme.operators.flatMap(({ value }) => (isSchedule(value) ? (value.jumps ?? []) : [])),
  ];
  const saveAt = span.saveAt ?? [];
  if (saveAt !== 'steps') {
    if (!Array.isArray(saveAt) || saveAt.some((t) => typeof t !== 'number' || !(t >= t0 && t <= t1))) {
      throw new SolverError('solve: saveAt', {
        expected: `times in [${t0}, ${t1}]`,
        received: Array.isArray(saveAt) ? `[${saveAt.map(describeValue).join(', ')}]` : describeValue(saveAt),
        fix: 'an adaptive solve ends a step at every save time inside the span',
      });
    }
  }
  const saveTimes = saveAt === 'steps' ? [] : saveAt;
  const stops = stopsWithin([...saveTimes, ...jumps], t0, t1);
  const near = (a: number, b: number) => Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(t0), Math.abs(t1));
  const isJump = (t: number) => t < t1 && jumps.some((j) => near(j, t));
  const isSaved = (t: number) => saveTimes.some((s) => near(s, t));
  const savesStart = saveAt === 'steps' || saveTimes.some((t) => near(t, t0));
  checkFinite(u0);

  const k = estimator.errorOrder;
  const stats = newStatistics();
  const adaptive: AdaptiveStatistics = {
    accepted: 0,
    rejected: 0,
    initialStep: 0,
    finalStep: 0,
    minStep: Infinity,
    maxStep: 0,
    nextStep: 0,
  };
  stats.adaptive = adaptive;
  const ts: number[] = [];
  const states: Field[] = [];
  const save = (t: number, u: Field) => {
    ts.push(t);
    states.push(u.withValues(tf.clone(u.values)));
  };
  let u = u0;
  let first: StageRate | undefined;
  const dropFirst = () => {
    if (first !== undefined) tf.dispose(first.values);
    first = undefined;
  };
  try {
    if (savesStart) save(t0, u0);
    let h: number;
    if (initialStep !== undefined) {
      h = initialStep;
    } else if (estimator.rateAt !== undefined) {
      const start = hairerInitialStep(u0, estimator.rateAt, { t0, span: t1 - t0, k, rtol, atol, stats });
      h = start.dt;
      first = start.first;
    } else {
      h = simpleInitialStep(t1 - t0, k, rtol);
    }
    adaptive.initialStep = h;
    let t = t0;
    let stop = 0;
    let previousErr = 1;
    let afterRejection = false;
    while (t < t1) {
      const target = stops[stop]!;
      if (stats.steps + adaptive.rejected >= maxSteps) {
        throw new SolverError('solve: step.maxSteps', {
          expected: `at most ${maxSteps} trial steps to reach t1 = ${t1}`,
          received: `t = ${t} after ${adaptive.accepted} accepted and ${adaptive.rejected} rejected steps (Δt = ${h})`,
          fix: 'raise maxSteps, loosen rtol/atol, or check the field for a blow-up or stiffness',
        });
      }
      // Hairer's rule: stretch the step by up to 1% rather than leave a sliver before the stop.
      const clipped = t + 1.01 * h >= target;
      const dt = clipped ? target - t : h;
      const context = new StepContext(stats, adaptive.accepted, t, dt);
      const previous = u;
      const carried = first;
      let proposed: Field | undefined;
      // Only tensors leave the tidy: a rate's operators may hold tensors the tidy must still dispose.
      let firstOperators: readonly unknown[] = [];
      let lastOperators: readonly unknown[] | undefined;
      const out = tf.tidy(() => {
        const trial = estimator.trial(previous, context, carried);
        proposed = trial.u;
        firstOperators = trial.first?.operators ?? [];
        lastOperators = trial.last?.operators;
        const err = scaledErrorNorm(trial.error, previous.values, trial.u.values, rtol, atol);
        const values = trial.u.values === previous.values ? tf.clone(trial.u.values) : trial.u.values;
        return { values, err, first: trial.first?.values, last: trial.last?.values };
      });
      const err = out.err.dataSync()[0]!;
      out.err.dispose();
      // The first-stage rate of this step is valid for a retry: keep it, whichever the outcome.
      if (out.first !== undefined && out.first !== carried?.values) {
        dropFirst();
        first = { values: out.first, operators: firstOperators };
      }
      if (!(err <= 1)) {
        adaptive.rejected++;
        tf.dispose(out.last === undefined ? [out.values] : [out.values, out.last]);
        const next = dt * rejectedFactor(err, k);
        if (next < minStep || t + next === t) {
          const finite = Number.isFinite(err);
          throw new SolverError(finite ? 'solve: step size' : 'solve: state', {
            expected: finite
              ? `a step Δt ≥ minStep = ${minStep} that advances t in float64`
              : 'a finite state from a small enough step',
            received: finite
              ? `Δt = ${next} at t = ${t} (scaled error ${err.toPrecision(3)} at Δt = ${dt})`
              : `NaN or ±Infinity after every trial step from t = ${t}, the last of Δt = ${dt}`,
            fix: finite
              ? 'the solution may blow up or θ(t) jump there (declare it in jumpTimes); loosen rtol/atol or lower minStep'
              : 'the rate overflows or is undefined there: check the operators and θ(t)',
          });
        }
        h = next;
        afterRejection = true;
        continue;
      }
      const tNext = clipped ? target : t + dt;
      u = proposed!.withValues(out.values);
      if (previous !== u0) previous.dispose();
      if (out.last !== undefined) {
        dropFirst();
        first = { values: out.last, operators: lastOperators! };
      }
      if (clipped) {
        if (isJump(target)) dropFirst();
        stop++;
      }
      stats.steps++;
      adaptive.accepted++;
      adaptive.finalStep = dt;
      adaptive.minStep = Math.min(adaptive.minStep, dt);
      adaptive.maxStep = Math.max(adaptive.maxStep, dt);
      const grown = dt * acceptedFactor(err, previousErr, k, afterRejection);
      // A step cut short by a stop says little about the step the controller wanted: keep its proposal.
      h = clipped && dt < h ? Math.max(h, grown) : grown;
      adaptive.nextStep = h;
      previousErr = err;
      afterRejection = false;
      t = tNext;
      if (saveAt === 'steps' || (clipped && isSaved(target))) save(t, u);
    }
  } catch (error) {
    dropFirst();
    if (u !== u0) u.dispose();
    tf.dispose(states.map((s) => s.values));
    throw error;
  }
  dropFirst();
  return { u, ts, states, stats };
}
