/**
 * `solve(u0, scheme, options)`: integrates the (split) integro-differential equation from t0 to t1.
 *
 * What to solve comes positionally (the initial field and the scheme); how comes as options (the span, the
 * step control, what to save). Memory: the input is kept; intermediate stages are disposed after every
 * step; the result and any saved states are new tensors owned by the caller ({@link Solution.dispose}).
 * Gradients flow through a solve (tfjs autodiff) for every scheme.
 */
import { tf, describeValue } from '@tide/backend';
import { Field, checkField, type PointwiseStep, type Projection, type VectorField } from '@tide/domain';
import { SolverError } from './errors.js';
import { checkCoverage, valueAt } from './schedule.js';
import type { ParallelScheme, RungeKuttaScheme, Scheme, SplittingScheme } from './schemes.js';
import type { SubStep } from './sub-steps.js';
import { timeGrid, type StepControl } from './time-grid.js';

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
  /** Called after each sub-step with its index, kind and the stage (diagnostics; do not keep the field). */
  readonly onSubStep?: (info: { step: number; subStep: number; kind: string; t: number; stage: Field }) => void;
}

/** Counts of what a solve did. */
export interface SolverStatistics {
  steps: number;
  subSteps: number;
  /** Vector-field evaluations F(u) (every RK stage and every Heun stage counts). */
  fieldEvaluations: number;
  projections: number;
  pointwiseMaps: number;
  /** Evaluations per operator label. */
  byLabel: Record<string, number>;
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

/**
 * A stage time inside the open step interval (by 1e-9·Δt): at a step boundary a piecewise-constant θ(t)
 * then uses the piece of the current step (its left or right limit), never the neighbour's.
 */
function inside(tn: number, dt: number, fraction: number): number {
  const margin = 1e-9 * dt;
  return Math.min(tn + dt - margin, Math.max(tn + margin, tn + fraction * dt));
}

function newStats(): SolverStatistics {
  return { steps: 0, subSteps: 0, fieldEvaluations: 0, projections: 0, pointwiseMaps: 0, byLabel: {} };
}

function count(stats: SolverStatistics, label: string): void {
  stats.byLabel[label] = (stats.byLabel[label] ?? 0) + 1;
}

function checkOutput(op: { label: string }, u: Field, out: unknown): Field {
  if (!(out instanceof Field)) {
    throw new SolverError(`solve: operator "${op.label}"`, { expected: 'a Field from the operator', received: describeValue(out), fix: 'operators must return a new Field (see the operator contract in @tide/domain)' });
  }
  if (out.batch !== u.batch || out.tokens !== u.tokens) {
    throw new SolverError(`solve: operator "${op.label}"`, { expected: `a field of ${u.batch}×${u.tokens} tokens`, received: `${out.batch}×${out.tokens}`, fix: 'an operator keeps the batch and the token grid' });
  }
  return out;
}

function evaluate(field: VectorField, u: Field, t: number, stats: SolverStatistics): Field {
  stats.fieldEvaluations++;
  count(stats, field.label);
  return checkOutput(field, u, field.evaluate(u, t));
}

function embed(field: VectorField, u: Field): Field {
  return field.embed === undefined ? u : field.embed(u);
}

/** `J u + h·F` with checked shapes. */
function axpy(ju: Field, h: number, f: Field, label: string): Field {
  if (f.features !== ju.features) {
    throw new SolverError(`solve: explicit step of "${label}"`, {
      expected: `a rate on the state's ${ju.features} features (or an operator with embed())`,
      received: `a rate on ${f.features} features`,
      fix: 'an operator that changes the feature width must provide embed(u) (see FeatureIncrement)',
    });
  }
  // h = 1 (the exact scheme) skips a pass over the state: x·1 is x, so the result is bit-identical.
  return ju.withValues(tf.add(ju.values, h === 1 ? f.values : tf.mul(f.values, h)));
}

function applyThen(then: Projection | PointwiseStep, u: Field, t: number, stats: SolverStatistics): Field {
  count(stats, then.label);
  if (then.kind === 'projection') {
    stats.projections++;
    return checkOutput(then, u, then.project(u, t));
  }
  stats.pointwiseMaps++;
  return checkOutput(then, u, then.apply(u, t));
}

/** Runs one sub-step; `stages` holds stage 0 … j−1 of this step. */
function runSubStep(s: SubStep, stages: Field[], tn: number, dt: number, scale: number, stats: SolverStatistics): Field {
  const u = stages[stages.length - 1]!;
  stats.subSteps++;
  switch (s.kind) {
    case 'explicit': {
      const t = inside(tn, dt, s.at);
      const field = valueAt(s.field, t);
      const h = s.fraction * scale * dt;
      const k1 = evaluate(field, u, t, stats);
      const euler = axpy(embed(field, u), h, k1, field.label);
      if (s.method === 'euler') return euler;
      if (field.embed !== undefined) {
        throw new SolverError(`solve: Heun sub-step of "${field.label}"`, { expected: 'a rate on the same feature grid', received: 'a rate with a feature lift (embed)', fix: "use method 'euler' for lifted sub-steps" });
      }
      const k2 = evaluate(field, euler, t, stats);
      return u.withValues(tf.add(u.values, tf.mul(tf.add(k1.values, k2.values), h / 2)));
    }
    case 'projection': {
      const t = inside(tn, dt, s.at);
      return applyThen(valueAt(s.projection, t), u, t, stats);
    }
    case 'semi-implicit': {
      const t = inside(tn, dt, s.at);
      const field = valueAt(s.field, t);
      const rate = evaluate(field, u, t, stats);
      return applyThen(valueAt(s.then, t), axpy(embed(field, u), s.fraction * scale * dt, rate, field.label), t, stats);
    }
    case 'relaxation': {
      const j = stages.length;
      if (s.stages.length === 0 || s.stages.length !== s.weights.length || s.stages.some((i) => !Number.isInteger(i) || i < 0 || i >= j)) {
        throw new SolverError(`solve: relaxation at sub-step ${j}`, {
          expected: `stage indices in 0…${j - 1} with one weight each`,
          received: `stages [${s.stages.join(', ')}], weights [${s.weights.join(', ')}]`,
          fix: 'stage 0 is the start of the step, stage j the state after sub-step j',
        });
      }
      const first = stages[s.stages[0]!]!;
      for (const i of s.stages) {
        if (stages[i]!.features !== first.features) {
          throw new SolverError(`solve: relaxation at sub-step ${j}`, { expected: 'stages on the same feature grid', received: `stage ${i} has ${stages[i]!.features} features, stage ${s.stages[0]} has ${first.features}`, fix: 'relax only stages of equal width' });
        }
      }
      const mixed = tf.addN(s.stages.map((i, k) => tf.mul(stages[i]!.values, s.weights[k]!)));
      return first.withValues(mixed);
    }
    case 'pointwise': {
      const t = inside(tn, dt, s.at);
      const map = valueAt(s.map, t);
      stats.pointwiseMaps++;
      count(stats, map.label);
      return checkOutput(map, u, map.apply(u, t));
    }
    default:
      throw new SolverError('solve: sub-step', { expected: "one of 'explicit', 'projection', 'semi-implicit', 'relaxation', 'pointwise'", received: describeValue((s as { kind?: unknown }).kind), fix: 'build sub-steps with explicitStep(), projectionStep(), …' });
  }
}

function splittingStep(scheme: SplittingScheme, u: Field, tn: number, dt: number, stats: SolverStatistics, options: SolveOptions, step: number): Field {
  const stages = [u];
  scheme.subSteps.forEach((s, j) => {
    const next = runSubStep(s, stages, tn, dt, 1, stats);
    options.onSubStep?.({ step, subStep: j, kind: s.kind, t: inside(tn, dt, 0.5), stage: next });
    stages.push(next);
  });
  return stages[stages.length - 1]!;
}

function parallelStep(scheme: ParallelScheme, u: Field, tn: number, dt: number, stats: SolverStatistics): Field {
  const ends = scheme.branches.map((branch) => {
    const stages = [u];
    for (const s of branch) stages.push(runSubStep(s, stages, tn, dt, 1, stats));
    return stages[stages.length - 1]!;
  });
  return u.withValues(tf.div(tf.addN(ends.map((e) => e.values)), ends.length));
}

function rungeKuttaStep(scheme: RungeKuttaScheme, u: Field, tn: number, dt: number, stats: SolverStatistics): Field {
  const total = (v: Field, t: number): tf.Tensor => {
    const parts = scheme.fields.map((f) => {
      const field = valueAt(f, t);
      if (field.embed !== undefined) {
        throw new SolverError(`solve: ${scheme.name} on "${field.label}"`, { expected: 'rates on the state\'s feature grid', received: 'a rate with a feature lift', fix: 'Runge–Kutta schemes integrate the unsplit field on one feature grid' });
      }
      const r = evaluate(field, v, t, stats);
      if (r.features !== v.features) throw new SolverError(`solve: ${scheme.name}`, { expected: `rates with ${v.features} features`, received: `${r.features}`, fix: 'every term must keep the feature grid' });
      return r.values;
    });
    return parts.length === 1 ? parts[0]! : tf.addN(parts);
  };
  const k: tf.Tensor[] = [];
  for (let i = 0; i < scheme.b.length; i++) {
    stats.subSteps++;
    let stage = u.values as tf.Tensor;
    scheme.a[i]!.forEach((aij, j) => {
      if (aij !== 0) stage = tf.add(stage, tf.mul(k[j]!, aij * dt));
    });
    k.push(total(u.withValues(stage), inside(tn, dt, scheme.c[i]!)));
  }
  return u.withValues(tf.add(u.values, tf.mul(tf.addN(k.map((ki, i) => tf.mul(ki, scheme.b[i]!))), dt)));
}

function schemeTerms(scheme: Scheme): { label: string; value: unknown }[] {
  const fromSub = (s: SubStep): { label: string; value: unknown }[] => {
    switch (s.kind) {
      case 'explicit': return [{ label: 'an explicit sub-step', value: s.field }];
      case 'projection': return [{ label: 'a projection sub-step', value: s.projection }];
      case 'semi-implicit': return [{ label: 'a semi-implicit sub-step', value: s.field }, { label: 'a semi-implicit sub-step', value: s.then }];
      case 'pointwise': return [{ label: 'a pointwise sub-step', value: s.map }];
      default: return [];
    }
  };
  if (scheme.kind === 'splitting') return scheme.subSteps.flatMap(fromSub);
  if (scheme.kind === 'parallel') return scheme.branches.flat().flatMap(fromSub);
  return scheme.fields.map((value) => ({ label: `a ${scheme.name} term`, value }));
}

function checkScheme(scheme: unknown): asserts scheme is Scheme {
  const kind = (scheme as { kind?: unknown })?.kind;
  const ok =
    (kind === 'splitting' && Array.isArray((scheme as SplittingScheme).subSteps) && (scheme as SplittingScheme).subSteps.length > 0) ||
    (kind === 'parallel' && Array.isArray((scheme as ParallelScheme).branches) && (scheme as ParallelScheme).branches.length > 0) ||
    (kind === 'runge-kutta' && Array.isArray((scheme as RungeKuttaScheme).fields) && (scheme as RungeKuttaScheme).fields.length > 0);
  if (!ok) {
    throw new SolverError('solve: scheme', {
      expected: 'a non-empty scheme (lieSplitting, strangSplitting, parallelSplitting, explicitEuler, heun, rk4)',
      received: kind === undefined ? describeValue(scheme) : `an empty or malformed '${String(kind)}' scheme`,
      fix: 'give the scheme at least one sub-step or term',
    });
  }
}

/** Integrates from `options.t0` (default 0) to `options.t1` with `scheme`, starting from `u0`. */
export function solve(u0: Field, scheme: Scheme, options: SolveOptions): Solution {
  checkField('solve', u0);
  checkScheme(scheme);
  if (typeof options !== 'object' || options === null) {
    throw new SolverError('solve: options', { expected: '{ t1, t0?, step?, saveAt? }', received: describeValue(options), fix: 'pass at least the end time t1' });
  }
  const t0 = options.t0 ?? 0;
  const grid = timeGrid(t0, options.t1, options.step ?? { dt: 1 });
  for (const { label, value } of schemeTerms(scheme)) checkCoverage(label, value, t0, options.t1);
  const saveTimes = options.saveAt === 'steps' ? grid : (options.saveAt ?? []);
  const saveIndex = new Map<number, number>();
  for (const ts of saveTimes) {
    const i = grid.findIndex((g) => Math.abs(g - ts) <= 1e-9 * Math.max(1, Math.abs(ts)));
    if (i < 0) {
      throw new SolverError('solve: saveAt', { expected: `times on the step grid (${grid.length - 1} steps of Δt = ${grid[1]! - grid[0]!})`, received: String(ts), fix: 'save at step boundaries, e.g. at integers for one step per layer' });
    }
    saveIndex.set(i, ts);
  }
  const stats = newStats();
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
      const values = tf.tidy(() => {
        out =
          scheme.kind === 'splitting'
            ? splittingStep(scheme, previous, tn, dt, stats, options, n)
            : scheme.kind === 'parallel'
              ? parallelStep(scheme, previous, tn, dt, stats)
              : rungeKuttaStep(scheme, previous, tn, dt, stats);
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
