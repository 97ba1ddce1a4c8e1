/**
 * Sub-step kinds of operator splitting (paper §4, SPEC §2). One step t → t + Δt runs a list of sub-steps;
 * stage 0 is the state at the start of the step and stage j the state after sub-step j.
 *
 * | kind | update | notes |
 * |---|---|---|
 * | explicit | `u ← J u + fΔt·F(u)` | Euler; `method: 'heun'` integrates the sub-flow to second order |
 * | projection | `u ← P_S(u)` | exact for any Δt (a normal cone is scale-free) |
 * | semi-implicit | `u ← Φ(J u + fΔt·F(u))` | Φ a projection (ReLU) or a pointwise map (GELU) |
 * | relaxation | `u ← Σ_i c_i u^{(s_i)}` | a weighted average of earlier stages (default ½, ½) |
 * | pointwise | `u ← φ(u)` | e.g. the affine γ·u + β |
 *
 * Operators are evaluated at `t_n + at·Δt` (default `at = ½`: the step's midpoint, which keeps symmetric
 * schemes second order for time-dependent θ(t) and picks layer i for a piecewise-constant θ with Δt ≤ 1).
 */
import type { PointwiseStep, Projection, VectorField } from '@tide/domain';
import type { TimeDependent } from './schedule.js';

export interface ExplicitSubStep {
  readonly kind: 'explicit';
  readonly field: TimeDependent<VectorField>;
  /** Fraction f of Δt (default 1). */
  readonly fraction: number;
  readonly method: 'euler' | 'heun';
  readonly at: number;
}
export interface ProjectionSubStep {
  readonly kind: 'projection';
  readonly projection: TimeDependent<Projection>;
  readonly at: number;
}
export interface SemiImplicitSubStep {
  readonly kind: 'semi-implicit';
  readonly field: TimeDependent<VectorField>;
  readonly then: TimeDependent<Projection | PointwiseStep>;
  readonly fraction: number;
  readonly at: number;
}
export interface RelaxationSubStep {
  readonly kind: 'relaxation';
  /** Stage indices (0 = start of step, j = after sub-step j); each must be earlier than this sub-step. */
  readonly stages: readonly number[];
  readonly weights: readonly number[];
}
export interface PointwiseSubStep {
  readonly kind: 'pointwise';
  readonly map: TimeDependent<PointwiseStep>;
  readonly at: number;
}

/** One sub-step of a splitting scheme. */
export type SubStep = ExplicitSubStep | ProjectionSubStep | SemiImplicitSubStep | RelaxationSubStep | PointwiseSubStep;

/** `u ← J u + fΔt·F(u)`. */
export function explicitStep(field: TimeDependent<VectorField>, options: { fraction?: number; method?: 'euler' | 'heun'; at?: number } = {}): ExplicitSubStep {
  return { kind: 'explicit', field, fraction: options.fraction ?? 1, method: options.method ?? 'euler', at: options.at ?? 0.5 };
}

/** `u ← P_S(u)`. */
export function projectionStep(projection: TimeDependent<Projection>, options: { at?: number } = {}): ProjectionSubStep {
  return { kind: 'projection', projection, at: options.at ?? 0.5 };
}

/** `u ← Φ(J u + fΔt·F(u))`. */
export function semiImplicitStep(
  field: TimeDependent<VectorField>,
  then: TimeDependent<Projection | PointwiseStep>,
  options: { fraction?: number; at?: number } = {},
): SemiImplicitSubStep {
  return { kind: 'semi-implicit', field, then, fraction: options.fraction ?? 1, at: options.at ?? 0.5 };
}

/** `u ← Σ c_i u^{(s_i)}` (default weights equal, summing to 1). */
export function relaxationStep(stages: readonly number[], weights?: readonly number[]): RelaxationSubStep {
  return { kind: 'relaxation', stages, weights: weights ?? stages.map(() => 1 / stages.length) };
}

/** `u ← φ(u)`. */
export function pointwiseStep(map: TimeDependent<PointwiseStep>, options: { at?: number } = {}): PointwiseSubStep {
  return { kind: 'pointwise', map, at: options.at ?? 0.5 };
}
