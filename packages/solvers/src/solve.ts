/**
 * `solve(u0, scheme, options)`: integrates the (split) integro-differential equation from t0 to t1 (paper §4;
 * docs/splitting-and-recovery.md).
 *
 * What to solve comes positionally (the initial field and the scheme); how comes as options (the span, the
 * step control, what to save). The scheme takes each step itself (`scheme.step`); `solve` owns the time grid,
 * the trajectory, the statistics and the memory. Memory: the input is kept; intermediate stages are disposed
 * after every step; the result and any saved states are new tensors owned by the caller
 * ({@link Solution.dispose}). Gradients flow through a solve (tfjs autodiff) for every scheme; with
 * `gradients: { method: 'checkpoint', params }` a fixed-step solve keeps only the step boundaries for its
 * backward pass and recomputes each step there (docs/continuous-depth.md, "Memory-light gradients").
 */
import { tf, describeValue } from '@tide/backend';
import { checkField, type Field } from '@tide/domain';
import { SolverError } from './errors.js';
import { checkCoverage } from './schedule.js';
import type { Scheme } from './schemes.js';
import { newStatistics, type SolverStatistics, type SubStepObserver } from './step-context.js';
import { checkSpan, timeGrid, type StepControl } from './time-grid.js';
import { adaptiveSolve, isAdaptive, type AdaptiveStepControl } from './adaptive-solve.js';
import { contextAt, differentiableSegment, takeStep } from './checkpoint.js';
import { resolveGradients, type GradientMode } from './gradient-mode.js';

export type { SolverStatistics } from './step-context.js';

/** Options of {@link solve}. */
export interface SolveOptions {
  /** Start time (default 0). */
  readonly t0?: number;
  /** End time T (e.g. the number of layers). */
  readonly t1: number;
  /**
   * Step control (default Δt = 1: one step per unit time): a uniform grid `{ dt }` or `{ stepsPerUnit }`, or
   * a tolerance `{ rtol, atol, initialStep?, minStep?, maxSteps?, jumpTimes? }` for a scheme that estimates its
   * error (`bogackiShampine`, `dormandPrince`, `stepDoubling(scheme)`): see {@link AdaptiveStepControl}.
   */
  readonly step?: StepControl | AdaptiveStepControl;
  /**
   * Times at which to save the state, or `'steps'` for every step boundary (t0 included). On a uniform grid
   * they must be step boundaries; an adaptive solve takes any times in [t0, t1] and ends a step at each.
   */
  readonly saveAt?: readonly number[] | 'steps';
  /**
   * Called after each sub-step of a splitting scheme with its index, kind and the stage (diagnostics; do not
   * keep the field). Fixed-step solves only: an adaptive solve refuses it (its trial steps may be rejected).
   */
  readonly onSubStep?: SubStepObserver;
  /**
   * How tfjs differentiates the solve (`tf.grad`, `tf.grads`, `tf.variableGrads`, …); fixed-step solves only for
   * the memory-light methods (docs/continuous-depth.md, "Memory-light gradients"):
   *
   * - `'tape'` (default): tfjs's tape keeps every stage's intermediates — memory O(steps · stages · |u|).
   * - `{ method: 'checkpoint', params }`: keeps u_n at the step boundaries and recomputes one step at a time in
   *   the backward pass — memory O(steps · |u|) + one step's tape, ≈ 2× the forward compute, the same gradient.
   * - `{ method: 'adjoint', params, states? }`: the continuous adjoint (Runge–Kutta schemes), O(Δt^p) from exact.
   *
   * `params`: the tensors the operators read whose gradients are wanted (default none: u0 only). Without a
   * recording tape (no gradient asked) every method is the plain solve.
   */
  readonly gradients?: GradientMode;
}

/** The result of {@link solve}. */
export interface Solution {
  /** u(t1). */
  readonly u: Field;
  /** Saved times and states (empty unless `saveAt`). */
  readonly ts: readonly number[];
  readonly states: readonly Field[];
  /** Work and, for an adaptive solve, the controller's record (`stats.adaptive`). */
  readonly stats: SolverStatistics;
  /** Disposes u and every saved state. */
  dispose(): void;
}

function checkScheme(scheme: unknown): asserts scheme is Scheme {
  const s = scheme as Partial<Scheme> | null | undefined;
  if (typeof s?.step !== 'function' || !Array.isArray(s.operators)) {
    const kind = s?.kind;
    throw new SolverError('solve: scheme', {
      expected:
        'a non-empty scheme (lieSplitting, strangSplitting, parallelSplitting, explicitEuler, heun, rk4, bogackiShampine, dormandPrince, stepDoubling)',
      received: kind === undefined ? describeValue(scheme) : `an empty or malformed '${String(kind)}' scheme`,
      fix: 'build the scheme with its constructor, with at least one sub-step or term',
    });
  }
}

/**
 * Integrates from `options.t0` (default 0) to `options.t1` with `scheme`, starting from `u0`: on a uniform
 * grid, or with `step: { rtol, atol }` adaptively to a tolerance (paper §5; docs/continuous-depth.md,
 * "Adaptive step-size control").
 */
export function solve(u0: Field, scheme: Scheme, options: SolveOptions): Solution {
  checkField('solve', u0);
  checkScheme(scheme);
  if (typeof options !== 'object' || options === null) {
    throw new SolverError('solve: options', {
      expected: '{ t1, t0?, step?, saveAt? }',
      received: describeValue(options),
      fix: 'pass at least the end time t1',
    });
  }
  const t0 = options.t0 ?? 0;
  const gradients = resolveGradients(options.gradients, scheme, isAdaptive(options.step), u0.values);
  if (isAdaptive(options.step)) {
    checkSpan(t0, options.t1);
    const { u, ts, states, stats } = adaptiveSolve(
      u0,
      scheme,
      { t0, t1: options.t1, saveAt: options.saveAt, observed: options.onSubStep !== undefined },
      options.step,
    );
    return finish(u0, u, ts, states, stats);
  }
  const grid = timeGrid(t0, options.t1, options.step ?? { dt: 1 });
  for (const { role, value } of scheme.operators) checkCoverage(role, value, t0, options.t1);
  const saveTimes = options.saveAt === 'steps' ? grid : (options.saveAt ?? []);
  const saveIndex = new Map<number, number>();
  for (const ts of saveTimes) {
    const i = grid.findIndex((g) => Math.abs(g - ts) <= 1e-9 * Math.max(1, Math.abs(ts)));
    if (i < 0) {
      throw new SolverError('solve: saveAt', {
        expected: `times on the step grid (${grid.length - 1} steps of Δt = ${grid[1]! - grid[0]!})`,
        received: String(ts),
        fix: 'save at step boundaries, e.g. at integers for one step per layer',
      });
    }
    saveIndex.set(i, ts);
  }
  const stats = newStatistics();
  const ts: number[] = [];
  const states: Field[] = [];
  const save = (i: number, u: Field) => {
    if (!saveIndex.has(i)) return;
    ts.push(grid[i]!);
    states.push(u.withValues(tf.clone(u.values)));
  };
  save(0, u0);
  let u = u0;
  try {
    if (gradients.method !== 'tape' && tf.engine().isTapeOn()) {
      // One recorded operation per run of steps between saved states (the saved states stay differentiable).
      const ends = [...[...saveIndex.keys()].filter((i) => i > 0), grid.length - 1].sort((a, b) => a - b);
      let from = 0;
      for (const to of new Set(ends)) {
        const previous = u;
        u = differentiableSegment(previous, { scheme, grid, from, to, stats, observer: options.onSubStep }, gradients);
        if (previous !== u0) previous.dispose();
        save(to, u);
        from = to;
      }
    } else {
      for (let n = 0; n + 1 < grid.length; n++) {
        const previous = u;
        u = takeStep(scheme, previous, contextAt(grid, n, stats, options.onSubStep));
        stats.steps++;
        if (previous !== u0) previous.dispose();
        save(n + 1, u);
      }
    }
  } catch (error) {
    if (u !== u0) u.dispose();
    tf.dispose(states.map((s) => s.values));
    throw error;
  }
  return finish(u0, u, ts, states, stats);
}

/** The {@link Solution}: u(t1) as a new tensor even when no step changed the state. */
function finish(u0: Field, u: Field, ts: number[], states: Field[], stats: SolverStatistics): Solution {
  const result = u === u0 ? u0.withValues(tf.clone(u0.values)) : u;
  return {
    u: result,
    ts,
    states,
    stats,
    dispose() {
      result.dispose();
      for (const s of states) s.dispose();
    },
  };
}
