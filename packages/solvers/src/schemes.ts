/**
 * Time-stepping schemes (paper §4; docs/splitting-and-recovery.md): a splitting scheme is an ordered list of
 * sub-steps; a parallel scheme averages branches; a Runge–Kutta scheme is a Butcher tableau applied to the
 * unsplit field `u_t = Σ_k F_k(u, t)`. Each scheme is data plus the one method a solve calls, `step`: it
 * knows how to take one step t_n → t_n + Δt.
 *
 * Classical orders for smooth fields: Lie 1, Strang 2 (with second-order sub-flows), parallel 1,
 * explicit Euler 1, Heun 2, RK4 4.
 */
import { tf, describeValue } from '@tide/backend';
import type { Field, VectorField } from '@tide/domain';
import { SolverError } from './errors.js';
import type { TimeDependent } from './schedule.js';
import type { EmbeddedRungeKuttaScheme } from './embedded-runge-kutta.js';
import type { StepContext } from './step-context.js';
import type { StepDoublingScheme } from './step-doubling.js';
import { unsplitRate } from './unsplit-rate.js';
import { explicitStep, type ExplicitSubStep, type OperatorUse, type SubStep } from './sub-steps.js';

/** What every scheme has: its operators (a solve checks that their schedules cover its span), and how it steps. */
export interface SchemeBehaviour {
  readonly name: string;
  readonly operators: readonly OperatorUse[];
  /** One step from `u` at `context.tn` over `context.dt`; returns the new state (intermediates are the caller's tidy's). */
  step(u: Field, context: StepContext): Field;
}

/** Sub-steps run in sequence over each step. */
export interface SplittingScheme extends SchemeBehaviour {
  readonly kind: 'splitting';
  /** The classical order for smooth fields (Lie 1, Strang 2): what {@link stepDoubling} assumes by default. */
  readonly order: number;
  readonly subSteps: readonly SubStep[];
}

/** Branches run from the same state, each with its sub-steps' fractions scaled by K, then averaged. */
export interface ParallelScheme extends SchemeBehaviour {
  readonly kind: 'parallel';
  /** 1: the classical order of parallel splitting. */
  readonly order: number;
  readonly branches: readonly (readonly SubStep[])[];
}

/** A Butcher tableau on the unsplit field. */
export interface RungeKuttaScheme extends SchemeBehaviour {
  readonly kind: 'runge-kutta';
  readonly order: number;
  readonly a: readonly (readonly number[])[];
  readonly b: readonly number[];
  readonly c: readonly number[];
  readonly fields: readonly TimeDependent<VectorField>[];
}

/**
 * Any scheme {@link solve} accepts. The last two also estimate their local error, so a solve with
 * `step: { rtol, atol }` can control the step size with them (docs/continuous-depth.md).
 */
export type Scheme =
  SplittingScheme | ParallelScheme | RungeKuttaScheme | EmbeddedRungeKuttaScheme | StepDoublingScheme;

function nonEmpty(subject: string, list: readonly unknown[]): void {
  if (!Array.isArray(list) || list.length === 0) {
    throw new SolverError(subject, {
      expected: 'at least one sub-step or term',
      received: describeValue(list),
      fix: 'list the operators the scheme steps through',
    });
  }
}

function checkSubSteps(subject: string, subSteps: readonly SubStep[]): void {
  nonEmpty(subject, subSteps);
  subSteps.forEach((s, j) => {
    if (
      typeof (s as Partial<SubStep> | null)?.run !== 'function' ||
      !Array.isArray((s as Partial<SubStep>).operators)
    ) {
      throw new SolverError(`${subject}: sub-step ${j}`, {
        expected: 'a sub-step built by explicitStep, projectionStep, semiImplicitStep, relaxationStep or pointwiseStep',
        received: describeValue(s),
        fix: 'build sub-steps with the constructors of @tide/solvers',
      });
    }
  });
}

/** Runs `subSteps` in order from `u`; `onEach` sees every new stage. */
function runInOrder(
  subSteps: readonly SubStep[],
  u: Field,
  context: StepContext,
  onEach?: (j: number, s: SubStep, stage: Field) => void,
): Field {
  const stages = [u];
  subSteps.forEach((s, j) => {
    const next = context.runSubStep(s, stages);
    onEach?.(j, s, next);
    stages.push(next);
  });
  return stages[stages.length - 1]!;
}

/** A splitting scheme over `subSteps`. */
function splitting(subSteps: readonly SubStep[], name: string, order: number): SplittingScheme {
  return {
    kind: 'splitting',
    name,
    order,
    subSteps,
    operators: subSteps.flatMap((s) => s.operators),
    step: (u, context) => runInOrder(subSteps, u, context, (j, s, stage) => context.observe(j, s.kind, stage)),
  };
}

/** Lie (sequential) splitting: the sub-steps in order, each over the full step. First order. */
export function lieSplitting(subSteps: readonly SubStep[], name = 'lie'): SplittingScheme {
  checkSubSteps('lieSplitting', subSteps);
  return splitting(subSteps, name, 1);
}

/**
 * Strang splitting of explicit sub-flows `F_1, …, F_m`: `F_1(½) … F_{m−1}(½) F_m(1) F_{m−1}(½) … F_1(½)`,
 * each sub-flow integrated with Heun so that the composition is second order.
 */
export function strangSplitting(fields: readonly TimeDependent<VectorField>[], name = 'strang'): SplittingScheme {
  nonEmpty('strangSplitting', fields);
  const half = (f: TimeDependent<VectorField>): ExplicitSubStep => explicitStep(f, { fraction: 0.5, method: 'heun' });
  const m = fields.length;
  return splitting(
    [
      ...fields.slice(0, m - 1).map(half),
      explicitStep(fields[m - 1]!, { fraction: 1, method: 'heun' }),
      ...fields
        .slice(0, m - 1)
        .reverse()
        .map(half),
    ],
    name,
    2,
  );
}

/** Parallel splitting: K branches `u + Δt·K·F_k(u)`, averaged. First order. */
export function parallelSplitting(fields: readonly TimeDependent<VectorField>[], name = 'parallel'): ParallelScheme {
  nonEmpty('parallelSplitting', fields);
  const branches = fields.map((f) => [explicitStep(f, { fraction: fields.length })]);
  return {
    kind: 'parallel',
    name,
    order: 1,
    branches,
    operators: branches.flat().flatMap((s) => s.operators),
    step(u, context) {
      const ends = branches.map((branch) => runInOrder(branch, u, context));
      return u.withValues(tf.div(tf.addN(ends.map((e) => e.values)), ends.length));
    },
  };
}

function rungeKutta(
  name: string,
  order: number,
  a: number[][],
  b: number[],
  c: number[],
  fields: readonly TimeDependent<VectorField>[],
): RungeKuttaScheme {
  const rate = unsplitRate(name, fields);
  return {
    kind: 'runge-kutta',
    name,
    order,
    a,
    b,
    c,
    fields,
    operators: fields.map((value) => ({ role: `a ${name} term`, value })),
    step(u, context) {
      const dt = context.dt;
      const k: tf.Tensor[] = [];
      for (let i = 0; i < b.length; i++) {
        context.countStage();
        let stage = u.values as tf.Tensor;
        a[i]!.forEach((aij, j) => {
          if (aij !== 0) stage = tf.add(stage, tf.mul(k[j]!, aij * dt));
        });
        k.push(rate.evaluate(u.withValues(stage), context.time(c[i]!), context));
      }
      return u.withValues(tf.add(u.values, tf.mul(tf.addN(k.map((ki, i) => tf.mul(ki, b[i]!))), dt)));
    },
  };
}

/** Explicit Euler on `u_t = Σ F_k(u, t)`. Order 1. */
export function explicitEuler(fields: readonly TimeDependent<VectorField>[]): RungeKuttaScheme {
  return rungeKutta('euler', 1, [[]], [1], [0], fields);
}

/** Heun's method (the explicit trapezoid rule, RK2). Order 2. */
export function heun(fields: readonly TimeDependent<VectorField>[]): RungeKuttaScheme {
  return rungeKutta('heun', 2, [[], [1]], [0.5, 0.5], [0, 1], fields);
}

/** The classical fourth-order Runge–Kutta method. Order 4. */
export function rk4(fields: readonly TimeDependent<VectorField>[]): RungeKuttaScheme {
  return rungeKutta('rk4', 4, [[], [0.5], [0, 0.5], [0, 0, 1]], [1 / 6, 1 / 3, 1 / 3, 1 / 6], [0, 0.5, 0.5, 1], fields);
}
