/**
 * Time-stepping schemes as data (paper §4, SPEC §2): a splitting scheme is an ordered list of sub-steps; a
 * parallel scheme averages branches; a Runge–Kutta scheme is a Butcher tableau applied to the unsplit
 * field `u_t = Σ_k F_k(u, t)`.
 *
 * Classical orders for smooth fields: Lie 1, Strang 2 (with second-order sub-flows), parallel 1,
 * explicit Euler 1, Heun 2, RK4 4.
 */
import type { VectorField } from '@tide/domain';
import { describeValue } from '@tide/backend';
import { SolverError } from './errors.js';
import type { TimeDependent } from './schedule.js';
import { explicitStep, type ExplicitSubStep, type SubStep } from './sub-steps.js';

/** Sub-steps run in sequence over each step. */
export interface SplittingScheme {
  readonly kind: 'splitting';
  readonly name: string;
  readonly subSteps: readonly SubStep[];
}

/** Branches run from the same state, each with its sub-steps' fractions scaled by K, then averaged. */
export interface ParallelScheme {
  readonly kind: 'parallel';
  readonly name: string;
  readonly branches: readonly (readonly SubStep[])[];
}

/** A Butcher tableau on the unsplit field. */
export interface RungeKuttaScheme {
  readonly kind: 'runge-kutta';
  readonly name: string;
  readonly order: number;
  readonly a: readonly (readonly number[])[];
  readonly b: readonly number[];
  readonly c: readonly number[];
  readonly fields: readonly TimeDependent<VectorField>[];
}

/** Any scheme {@link solve} accepts. */
export type Scheme = SplittingScheme | ParallelScheme | RungeKuttaScheme;

function nonEmpty(subject: string, list: readonly unknown[]): void {
  if (!Array.isArray(list) || list.length === 0) {
    throw new SolverError(subject, { expected: 'at least one sub-step or term', received: describeValue(list), fix: 'list the operators the scheme steps through' });
  }
}

/** Lie (sequential) splitting: the sub-steps in order, each over the full step. First order. */
export function lieSplitting(subSteps: readonly SubStep[], name = 'lie'): SplittingScheme {
  nonEmpty('lieSplitting', subSteps);
  return { kind: 'splitting', name, subSteps };
}

/**
 * Strang splitting of explicit sub-flows `F_1, …, F_m`: `F_1(½) … F_{m−1}(½) F_m(1) F_{m−1}(½) … F_1(½)`,
 * each sub-flow integrated with Heun so that the composition is second order.
 */
export function strangSplitting(fields: readonly TimeDependent<VectorField>[], name = 'strang'): SplittingScheme {
  nonEmpty('strangSplitting', fields);
  const half = (f: TimeDependent<VectorField>): ExplicitSubStep => explicitStep(f, { fraction: 0.5, method: 'heun' });
  const m = fields.length;
  const subSteps: SubStep[] = [
    ...fields.slice(0, m - 1).map(half),
    explicitStep(fields[m - 1]!, { fraction: 1, method: 'heun' }),
    ...fields.slice(0, m - 1).reverse().map(half),
  ];
  return { kind: 'splitting', name, subSteps };
}

/** Parallel splitting: K branches `u + Δt·K·F_k(u)`, averaged. First order. */
export function parallelSplitting(fields: readonly TimeDependent<VectorField>[], name = 'parallel'): ParallelScheme {
  nonEmpty('parallelSplitting', fields);
  return { kind: 'parallel', name, branches: fields.map((f) => [explicitStep(f, { fraction: fields.length })]) };
}

function rungeKutta(name: string, order: number, a: number[][], b: number[], c: number[], fields: readonly TimeDependent<VectorField>[]): RungeKuttaScheme {
  nonEmpty(name, fields);
  return { kind: 'runge-kutta', name, order, a, b, c, fields };
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
