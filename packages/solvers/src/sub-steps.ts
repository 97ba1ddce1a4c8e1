/**
 * Sub-step kinds of operator splitting (paper §4; docs/splitting-and-recovery.md). One step t → t + Δt runs a
 * list of sub-steps; stage 0 is the state at the start of the step and stage j the state after sub-step j.
 *
 * | kind | update | takes |
 * |---|---|---|
 * | explicit | `u ← J u + fΔt·F(u)` | a `VectorField`; `method: 'heun'` integrates the sub-flow to second order |
 * | projection | `u ← P_S(u)` | a `Projection`; exact for any Δt (a normal cone is scale-free) |
 * | semi-implicit | `u ← Φ(J u + fΔt·F(u))` | a `VectorField`, then Φ a `Projection` (ReLU) or `PointwiseStep` (GELU) |
 * | relaxation | `u ← Σ_i c_i u^{(s_i)}` | stage indices and weights (default equal, ½ and ½ for two) |
 * | pointwise | `u ← φ(u)` | a `PointwiseStep`, e.g. the affine γ·u + β |
 *
 * Each constructor checks that its operator is of the kind it takes (a constant, or every listed piece of a
 * piecewise-constant schedule; other schedules' values are checked as a solve reads them) and throws a
 * {@link SolverError} naming the constructor that takes what arrived. Each sub-step knows how to run itself
 * (`run`); operators are evaluated at `t_n + at·Δt` (default `at = ½`: the step's midpoint, which keeps
 * symmetric schemes second order for time-dependent θ(t) and picks layer i for a piecewise-constant θ with
 * Δt ≤ 1).
 */
import { tf, describeValue } from '@tide/backend';
import type { Field, Operator, OperatorKind, PointwiseStep, Projection, VectorField } from '@tide/domain';
import { SolverError } from './errors.js';
import { checkTimeDependent, operatorAt } from './operator-kinds.js';
import type { TimeDependent } from './schedule.js';
import type { StepContext } from './step-context.js';

/** A time-dependent operator a sub-step or scheme reads, with its role for error messages ("an explicit sub-step"). */
export interface OperatorUse {
  readonly role: string;
  readonly value: TimeDependent<Operator>;
}

/** What every sub-step has: the operators it reads, and how it runs. */
interface SubStepBehaviour {
  /** The (possibly time-dependent) operators it reads: a solve checks that their schedules cover its span. */
  readonly operators: readonly OperatorUse[];
  /** Runs the sub-step: `stages` holds stage 0 … j−1 of this step (the last is the current state); returns stage j. */
  run(stages: readonly Field[], context: StepContext): Field;
}

export interface ExplicitSubStep extends SubStepBehaviour {
  readonly kind: 'explicit';
  readonly field: TimeDependent<VectorField>;
  /** Fraction f of Δt (default 1). */
  readonly fraction: number;
  readonly method: 'euler' | 'heun';
  readonly at: number;
}
export interface ProjectionSubStep extends SubStepBehaviour {
  readonly kind: 'projection';
  readonly projection: TimeDependent<Projection>;
  readonly at: number;
}
export interface SemiImplicitSubStep extends SubStepBehaviour {
  readonly kind: 'semi-implicit';
  readonly field: TimeDependent<VectorField>;
  readonly then: TimeDependent<Projection | PointwiseStep>;
  readonly fraction: number;
  readonly at: number;
}
export interface RelaxationSubStep extends SubStepBehaviour {
  readonly kind: 'relaxation';
  /** Stage indices (0 = start of step, j = after sub-step j); each must be earlier than this sub-step. */
  readonly stages: readonly number[];
  /** One finite weight c_i per stage. */
  readonly weights: readonly number[];
}
export interface PointwiseSubStep extends SubStepBehaviour {
  readonly kind: 'pointwise';
  readonly map: TimeDependent<PointwiseStep>;
  readonly at: number;
}

/** One sub-step of a splitting scheme. */
export type SubStep = ExplicitSubStep | ProjectionSubStep | SemiImplicitSubStep | RelaxationSubStep | PointwiseSubStep;

const RATE: readonly OperatorKind[] = ['vector-field'];
const PROJECTION: readonly OperatorKind[] = ['projection'];
const POINTWISE: readonly OperatorKind[] = ['pointwise'];
const CLOSING: readonly OperatorKind[] = ['projection', 'pointwise'];

function current(stages: readonly Field[]): Field {
  return stages[stages.length - 1]!;
}

function checkOptions(subject: string, options: unknown): void {
  if (typeof options !== 'object' || options === null) {
    throw new SolverError(`${subject}: options`, {
      expected: 'an options object (or nothing)',
      received: describeValue(options),
      fix: 'omit it for the defaults',
    });
  }
}

function checkFraction(subject: string, fraction: unknown): number {
  if (typeof fraction !== 'number' || !Number.isFinite(fraction)) {
    throw new SolverError(`${subject}: fraction`, {
      expected: 'a finite fraction f of Δt',
      received: describeValue(fraction),
      fix: 'f = 1 is a full step, ½ a half step (Strang)',
    });
  }
  return fraction;
}

function checkAt(subject: string, at: unknown): number {
  if (typeof at !== 'number' || !(at >= 0 && at <= 1)) {
    throw new SolverError(`${subject}: at`, {
      expected: 'a number in [0, 1] (where in the step the operators are read)',
      received: describeValue(at),
      fix: 'omit it for ½, the step midpoint',
    });
  }
  return at;
}

/**
 * `u ← J u + fΔt·F(u, t)` (paper §4): an explicit Euler sub-step, or with `method: 'heun'` Heun's method on
 * the sub-flow `u_t = F(u, t)` (second order, same feature grid only). J is `F.embed` when F lifts the
 * features, else I. Shapes: `u: [B, N_x, N_y] → [B, N_x, N_y']`.
 *
 * @param field F: a {@link VectorField}, or a schedule of them
 * @throws SolverError when `field` is not a VectorField (a projection steps with {@link projectionStep}, a
 *   pointwise map with {@link pointwiseStep}), or an option is out of range
 */
export function explicitStep(
  field: TimeDependent<VectorField>,
  options: { fraction?: number; method?: 'euler' | 'heun'; at?: number } = {},
): ExplicitSubStep {
  checkTimeDependent('explicitStep: field', field, RATE);
  checkOptions('explicitStep', options);
  const fraction = checkFraction('explicitStep', options.fraction ?? 1);
  const method = options.method ?? 'euler';
  if (method !== 'euler' && method !== 'heun') {
    throw new SolverError('explicitStep: method', {
      expected: "'euler' or 'heun'",
      received: describeValue(method),
      fix: "use 'heun' for a second-order sub-flow (Strang)",
    });
  }
  const at = checkAt('explicitStep', options.at ?? 0.5);
  return {
    kind: 'explicit',
    field,
    fraction,
    method,
    at,
    operators: [{ role: 'an explicit sub-step', value: field }],
    run(stages, context) {
      const u = current(stages);
      const t = context.time(at);
      const f = operatorAt('explicitStep: field', field, t, RATE);
      const h = fraction * context.dt;
      const k1 = context.evaluate(f, u, t);
      const euler = context.explicit(f, u, h, k1);
      if (method === 'euler') return euler;
      if (f.embed !== undefined) {
        throw new SolverError(`solve: Heun sub-step of "${f.label}"`, {
          expected: 'a rate on the same feature grid',
          received: 'a rate with a feature lift (embed)',
          fix: "use method 'euler' for lifted sub-steps",
        });
      }
      const k2 = context.evaluate(f, euler, t);
      return u.withValues(tf.add(u.values, tf.mul(tf.add(k1.values, k2.values), h / 2)));
    },
  };
}

/**
 * `u ← P_{S(t)}(u)` (paper §3–§4): the projection onto a constraint set (LayerNorm's S₁, ReLU's S₂), exact
 * for any Δt. Shapes: `[B, N_x, N_y] → [B, N_x, N_y]`.
 *
 * @param projection P: a {@link Projection}, or a schedule of them
 * @throws SolverError when `projection` is not a Projection (a rate steps with {@link explicitStep})
 */
export function projectionStep(
  projection: TimeDependent<Projection>,
  options: { at?: number } = {},
): ProjectionSubStep {
  checkTimeDependent('projectionStep: projection', projection, PROJECTION);
  checkOptions('projectionStep', options);
  const at = checkAt('projectionStep', options.at ?? 0.5);
  return {
    kind: 'projection',
    projection,
    at,
    operators: [{ role: 'a projection sub-step', value: projection }],
    run(stages, context) {
      const t = context.time(at);
      return context.project(operatorAt('projectionStep: projection', projection, t, PROJECTION), current(stages), t);
    },
  };
}

/**
 * `u ← Φ(J u + fΔt·F(u, t))` (paper §4): an explicit step closed by a projection (ReLU: exact for any Δt)
 * or a pointwise map (GELU). Shapes: `u: [B, N_x, N_y] → [B, N_x, N_y']`.
 *
 * @param field F: a {@link VectorField}, or a schedule of them
 * @param then Φ: a {@link Projection} or a {@link PointwiseStep}, or a schedule of them
 * @throws SolverError when `field` is not a VectorField or `then` is neither a Projection nor a PointwiseStep
 */
export function semiImplicitStep(
  field: TimeDependent<VectorField>,
  then: TimeDependent<Projection | PointwiseStep>,
  options: { fraction?: number; at?: number } = {},
): SemiImplicitSubStep {
  checkTimeDependent('semiImplicitStep: field', field, RATE);
  checkTimeDependent('semiImplicitStep: then', then, CLOSING);
  checkOptions('semiImplicitStep', options);
  const fraction = checkFraction('semiImplicitStep', options.fraction ?? 1);
  const at = checkAt('semiImplicitStep', options.at ?? 0.5);
  return {
    kind: 'semi-implicit',
    field,
    then,
    fraction,
    at,
    operators: [
      { role: 'a semi-implicit sub-step', value: field },
      { role: 'a semi-implicit sub-step', value: then },
    ],
    run(stages, context) {
      const u = current(stages);
      const t = context.time(at);
      const f = operatorAt('semiImplicitStep: field', field, t, RATE);
      const rate = context.evaluate(f, u, t);
      const stepped = context.explicit(f, u, fraction * context.dt, rate);
      return context.close(operatorAt('semiImplicitStep: then', then, t, CLOSING), stepped, t);
    },
  };
}

/**
 * `u ← Σ_i c_i u^{(s_i)}`: a weighted combination of earlier stages of the same step (stage 0 = the start of
 * the step, stage j = the state after sub-step j). Shapes: every stage `[B, N_x, N_y]` on the same grids.
 *
 * The weights (default: equal, `1/K` each):
 * - `[½, ½]` is the post-LN recovery of paper §4.1 (docs/splitting-and-recovery.md): the residual sum
 *   `z = u^{(a)} + u^{(b)}` enters the next LayerNorm halved, and `P^{ε/4}(½ z) = P^ε(z)` because the
 *   projection is scale invariant up to ε. `[1, 1]` followed by `P^ε` gives the same layer.
 * - weights summing to 1 make an affine combination (a state that all stages share is kept); non-negative
 *   ones summing to 1 a convex average (it stays in any convex set all stages lie in, e.g. S₂ = {u ≥ 0}).
 * - any other finite weights are allowed (a difference `[1, −1]`, a scaled sum): the step is then not
 *   consistent by itself, and only a scale-invariant sub-step after it (a projection) makes it a model.
 *
 * @param stages stage indices, integers ≥ 0; each must be earlier than this sub-step (checked by the solve)
 * @param weights one finite weight per stage
 * @throws SolverError for an empty or non-integer stage list, or weights of another length or not finite
 */
export function relaxationStep(stages: readonly number[], weights?: readonly number[]): RelaxationSubStep {
  if (!Array.isArray(stages) || stages.length === 0 || stages.some((i) => !Number.isInteger(i) || i < 0)) {
    throw new SolverError('relaxationStep: stages', {
      expected: 'a non-empty list of stage indices (integers ≥ 0)',
      received: Array.isArray(stages) ? `[${stages.map(describeValue).join(', ')}]` : describeValue(stages),
      fix: 'stage 0 is the start of the step, stage j the state after sub-step j',
    });
  }
  const c = weights ?? stages.map(() => 1 / stages.length);
  if (!Array.isArray(c) || c.length !== stages.length || c.some((w) => typeof w !== 'number' || !Number.isFinite(w))) {
    throw new SolverError('relaxationStep: weights', {
      expected: `one finite weight per stage (${stages.length} for stages [${stages.join(', ')}])`,
      received: Array.isArray(c) ? `[${c.map(describeValue).join(', ')}]` : describeValue(c),
      fix: 'omit the weights for equal ones (½, ½ for two stages)',
    });
  }
  return {
    kind: 'relaxation',
    stages,
    weights: c,
    operators: [],
    run(earlier) {
      const j = earlier.length;
      if (stages.some((i) => i >= j)) {
        throw new SolverError(`solve: relaxation at sub-step ${j}`, {
          expected: `stage indices in 0…${j - 1} with one weight each`,
          received: `stages [${stages.join(', ')}], weights [${c.join(', ')}]`,
          fix: 'stage 0 is the start of the step, stage j the state after sub-step j',
        });
      }
      const first = earlier[stages[0]!]!;
      for (const i of stages) {
        if (earlier[i]!.features !== first.features) {
          throw new SolverError(`solve: relaxation at sub-step ${j}`, {
            expected: 'stages on the same feature grid',
            received: `stage ${i} has ${earlier[i]!.features} features, stage ${stages[0]} has ${first.features}`,
            fix: 'relax only stages of equal width',
          });
        }
      }
      return first.withValues(tf.addN(stages.map((i, k) => tf.mul(earlier[i]!.values, c[k]!))));
    },
  };
}

/**
 * `u ← φ_t(u)` (paper §4): a pointwise map that is neither a rate nor a projection (GELU, the affine
 * γ(y)·u + β(y) of a trained LayerNorm). Shapes: `[B, N_x, N_y] → [B, N_x, N_y]`.
 *
 * @param map φ: a {@link PointwiseStep}, or a schedule of them
 * @throws SolverError when `map` is not a PointwiseStep (a projection steps with {@link projectionStep})
 */
export function pointwiseStep(map: TimeDependent<PointwiseStep>, options: { at?: number } = {}): PointwiseSubStep {
  checkTimeDependent('pointwiseStep: map', map, POINTWISE);
  checkOptions('pointwiseStep', options);
  const at = checkAt('pointwiseStep', options.at ?? 0.5);
  return {
    kind: 'pointwise',
    map,
    at,
    operators: [{ role: 'a pointwise sub-step', value: map }],
    run(stages, context) {
      const t = context.time(at);
      return context.apply(operatorAt('pointwiseStep: map', map, t, POINTWISE), current(stages), t);
    },
  };
}
