/**
 * `solve(u0, scheme, options)`: integrates the (split) integro-differential equation from t0 to t1 (paper §4;
 * docs/splitting-and-recovery.md).
 *
 * What to solve comes positionally (the initial field and the scheme); how comes as options (the span, the
 * step control, what to save). The scheme takes each step itself (`scheme.step`); `solve` owns the time grid,
 * the trajectory, the statistics and the memory. Memory: the input is kept; intermediate stages are disposed
 * after every step; the result and any saved states are new tensors owned by the caller
 * ({@link Solution.dispose}). Gradients flow through a solve (tfjs autodiff) for every scheme.
 */
import { tf, describeValue } from '@tide/backend';
import { checkField, type Field } from '@tide/domain';
import { SolverError } from './errors.js';
import { checkCoverage } from './schedule.js';
import type { Scheme } from './schemes.js';
import { StepContext, newStatistics, type SolverStatistics, type SubStepObserver } from './step-context.js';
import { timeGrid, type StepControl } from './time-grid.js';

export type { SolverStatistics } from './step-context.js';

/** Options of {@link solve}. */
export interface SolveOptions {
  /** Start time (default 0). */
  readonly t0?: number;
  /** End time T (e.g. the number of layers). */
  readonly t1: number;
  /** Step control (default Δt = 1: one step per unit time). */
  readonly step?: StepControl;
  /** Step-boundary times at which to save the state, or `'steps'` for every boundary (t0 included). */
  readonly saveAt?: readonly number[] | 'steps';
  /** Called after each sub-step of a splitting scheme with its index, kind and the stage (diagnostics; do not keep the field). */
  readonly onSubStep?: SubStepObserver;
}

/** The result of {@link solve}. */
export interface Solution {
  /** u(t1). */
  readonly u: Field;
  /** Saved times and states (empty unless `saveAt`). */
  readonly ts: readonly number[];
  readonly states: readonly Field[];
  readonly stats: SolverStatistics;
  /** Disposes u and every saved state. */
  dispose(): void;
}

function checkScheme(scheme: unknown): asserts scheme is Scheme {
  const s = scheme as Partial<Scheme> | null | undefined;
  if (typeof s?.step !== 'function' || !Array.isArray(s.operators)) {
    const kind = s?.kind;
    throw new SolverError('solve: scheme', {
      expected: 'a non-empty scheme (lieSplitting, strangSplitting, parallelSplitting, explicitEuler, heun, rk4)',
      received: kind === undefined ? describeValue(scheme) : `an empty or malformed '${String(kind)}' scheme`,
      fix: 'build the scheme with its constructor, with at least one sub-step or term',
    });
  }
}

/** Integrates from `options.t0` (default 0) to `options.t1` with `scheme`, starting from `u0`. */
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
    for (let n = 0; n + 1 < grid.length; n++) {
      const tn = grid[n]!;
      const dt = grid[n + 1]! - tn;
      const previous = u;
      let out: Field | undefined;
      const context = new StepContext(stats, n, tn, dt, options.onSubStep);
      const values = tf.tidy(() => {
        out = scheme.step(previous, context);
        // Return a tensor the tidy may keep: the input itself would be disposed by the caller's own scope.
        return out.values === previous.values ? tf.clone(out.values) : out.values;
      });
      u = out!.withValues(values);
      stats.steps++;
      if (previous !== u0) previous.dispose();
      save(n + 1, u);
    }
  } catch (error) {
    if (u !== u0) u.dispose();
    tf.dispose(states.map((s) => s.values));
    throw error;
  }
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
