/**
 * What a scheme is handed for one step t_n → t_n + Δt besides the state (paper §4;
 * docs/splitting-and-recovery.md): the clock, the statistics, and the operator calls every scheme shares —
 * each one counted and checked against the operator contract of `@tide/domain`.
 */
import { tf, describeValue } from '@tide/backend';
import { Field, type PointwiseStep, type Projection, type VectorField } from '@tide/domain';
import { SolverError } from './errors.js';

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
  /** Step-size control of an adaptive solve (`step: { rtol, atol }`); absent for a fixed grid. */
  adaptive?: AdaptiveStatistics;
}

/**
 * What the step-size controller of an adaptive solve did (docs/continuous-depth.md). Work is counted in the
 * enclosing {@link SolverStatistics}: `fieldEvaluations` counts every rate evaluation of accepted and rejected
 * trial steps and of the starting-step estimate, and a first stage reused from the previous step (FSAL) is no
 * evaluation; `steps` equals `accepted`.
 */
export interface AdaptiveStatistics {
  /** Steps accepted (scaled error ≤ 1). */
  accepted: number;
  /** Trial steps rejected (scaled error > 1, or a non-finite trial state); each cost a full step of work. */
  rejected: number;
  /** The first trial step size (from `initialStep`, or the starting-step rule). */
  initialStep: number;
  /** The size of the last accepted step (often clipped to end exactly at t1). */
  finalStep: number;
  /** The smallest and largest accepted step (steps clipped to end at a save time, jump or t1 included). */
  minStep: number;
  maxStep: number;
  /** The step the controller proposes after the last one: a good `initialStep` for a continuation from t1. */
  nextStep: number;
}

/** Called after each sub-step of a splitting scheme (diagnostics; do not keep the field). */
export type SubStepObserver = (info: { step: number; subStep: number; kind: string; t: number; stage: Field }) => void;

/** Something a step can run: a sub-step (see `sub-steps.ts`). */
interface Runnable {
  run(stages: readonly Field[], context: StepContext): Field;
}

/** Fresh statistics, all counts 0. */
export function newStatistics(): SolverStatistics {
  return { steps: 0, subSteps: 0, fieldEvaluations: 0, projections: 0, pointwiseMaps: 0, byLabel: {} };
}

/** The state of one step: `step` (its index n), `tn`, `dt`, and the operator calls with their bookkeeping. */
export class StepContext {
  constructor(
    readonly stats: SolverStatistics,
    readonly step: number,
    readonly tn: number,
    readonly dt: number,
    private readonly observer?: SubStepObserver,
  ) {}

  /**
   * `t_n + at·Δt`, kept inside the open step (by 1e-9·Δt): at a step boundary a piecewise-constant θ(t) then
   * uses the piece of the current step (its left or right limit), never the neighbour's.
   */
  time(at: number): number {
    const margin = 1e-9 * this.dt;
    return Math.min(this.tn + this.dt - margin, Math.max(this.tn + margin, this.tn + at * this.dt));
  }

  /**
   * The context of part of this step: from `t_n + at·Δt` over `fraction·Δt` (same step index, statistics and
   * observer). Step doubling runs a scheme over the two halves of a step with `within(0, ½)` and `within(½, ½)`.
   */
  within(at: number, fraction: number): StepContext {
    return new StepContext(this.stats, this.step, this.tn + at * this.dt, fraction * this.dt, this.observer);
  }

  /** Runs one sub-step on this step's stages 0 … j−1 and counts it. */
  runSubStep(subStep: Runnable, stages: readonly Field[]): Field {
    this.stats.subSteps++;
    return subStep.run(stages, this);
  }

  /** Counts a stage that is not a sub-step (a Runge–Kutta stage). */
  countStage(): void {
    this.stats.subSteps++;
  }

  /** Reports sub-step `subStep` of kind `kind` and its result to the solve's `onSubStep`. */
  observe(subStep: number, kind: string, stage: Field): void {
    this.observer?.({ step: this.step, subStep, kind, t: this.time(0.5), stage });
  }

  /** `F(u, t)`, counted and checked. */
  evaluate(field: VectorField, u: Field, t: number): Field {
    this.stats.fieldEvaluations++;
    this.count(field.label);
    return checkOutput(field, u, field.evaluate(u, t));
  }

  /** `P_S(t)(u)`, counted and checked. */
  project(projection: Projection, u: Field, t: number): Field {
    this.stats.projections++;
    this.count(projection.label);
    return checkOutput(projection, u, projection.project(u, t));
  }

  /** `φ_t(u)`, counted and checked. */
  apply(map: PointwiseStep, u: Field, t: number): Field {
    this.stats.pointwiseMaps++;
    this.count(map.label);
    return checkOutput(map, u, map.apply(u, t));
  }

  /** Φ(u) for the map after a semi-implicit step: a projection projects, a pointwise step applies. */
  close(map: Projection | PointwiseStep, u: Field, t: number): Field {
    return map.kind === 'projection' ? this.project(map, u, t) : this.apply(map, u, t);
  }

  /** `J u + h·k` (J: the field's embed, or I) with the rate `k = F(u)` already evaluated. */
  explicit(field: VectorField, u: Field, h: number, k: Field): Field {
    const ju = field.embed === undefined ? u : field.embed(u);
    if (k.features !== ju.features) {
      throw new SolverError(`solve: explicit step of "${field.label}"`, {
        expected: `a rate on the state's ${ju.features} features (or an operator with embed())`,
        received: `a rate on ${k.features} features`,
        fix: 'an operator that changes the feature width must provide embed(u) (see FeatureIncrement)',
      });
    }
    // h = 1 (the exact scheme) skips a pass over the state: x·1 is x, so the result is bit-identical.
    return ju.withValues(tf.add(ju.values, h === 1 ? k.values : tf.mul(k.values, h)));
  }

  private count(label: string): void {
    this.stats.byLabel[label] = (this.stats.byLabel[label] ?? 0) + 1;
  }
}

function checkOutput(op: { label: string }, u: Field, out: unknown): Field {
  if (!(out instanceof Field)) {
    throw new SolverError(`solve: operator "${op.label}"`, {
      expected: 'a Field from the operator',
      received: describeValue(out),
      fix: 'operators must return a new Field (see the operator contract in @tide/domain)',
    });
  }
  if (out.batch !== u.batch || out.tokens !== u.tokens) {
    throw new SolverError(`solve: operator "${op.label}"`, {
      expected: `a field of ${u.batch}×${u.tokens} tokens`,
      received: `${out.batch}×${out.tokens}`,
      fix: 'an operator keeps the batch and the token grid',
    });
  }
  return out;
}
