/**
 * Embedded Runge–Kutta pairs on the unsplit field `u_t = G(u, t) = Σ_k F_k(u, t)` (paper §5, continuous depth;
 * docs/continuous-depth.md): Bogacki–Shampine 3(2) and Dormand–Prince 5(4), both FSAL. The stages are evaluated
 * exactly as the fixed-step `rk4` evaluates them (the shared {@link unsplitRate}); the tableaux are data
 * ({@link EmbeddedTableau}).
 *
 * One step from u_n over Δt, with stages `k_i = G(u_n + Δt Σ_j a_ij k_j, t_n + c_i Δt)`:
 *
 *     u_{n+1} = u_n + Δt Σ_i b_i k_i                       (order p, propagated)
 *     e_{n+1} = Δt Σ_i (b_i − b̂_i) k_i = u_{n+1} − û_{n+1}   (the local error estimate, O(Δt^p))
 *
 * The estimate is formed from the stages, never by subtracting two float32 states. In a fixed-step solve the
 * pair is its order-p method (stages with b_i = 0 at the end are skipped: 3 evaluations for BS3, 6 for DP5).
 */
import { tf } from '@tide/backend';
import type { Field, VectorField } from '@tide/domain';
import type { ErrorEstimator, StageRate } from './error-estimate.js';
import type { TimeDependent } from './schedule.js';
import type { SchemeBehaviour } from './schemes.js';
import type { StepContext } from './step-context.js';
import { BOGACKI_SHAMPINE_32, DORMAND_PRINCE_54, type EmbeddedTableau } from './tableaux.js';
import { unsplitRate } from './unsplit-rate.js';

/** An embedded Runge–Kutta pair on the unsplit field: a fixed-step scheme of order p with an error estimate. */
export interface EmbeddedRungeKuttaScheme extends SchemeBehaviour, ErrorEstimator {
  readonly kind: 'embedded-runge-kutta';
  /** p, the order of the propagated solution. */
  readonly order: number;
  readonly tableau: EmbeddedTableau;
  readonly fields: readonly TimeDependent<VectorField>[];
}

/** `base + Δt Σ_i w_i k_i` over the nonzero weights (base omitted: just the sum; no weights: base). */
function combine(base: tf.Tensor | undefined, k: readonly tf.Tensor[], w: readonly number[], dt: number): tf.Tensor {
  const terms = k.flatMap((ki, i) => (w[i] === 0 || w[i] === undefined ? [] : [tf.mul(ki, w[i]! * dt)]));
  if (terms.length === 0) return base ?? tf.zerosLike(k[0]!);
  const sum = terms.length === 1 ? terms[0]! : tf.addN(terms);
  return base === undefined ? sum : tf.add(base, sum);
}

function sameOperators(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((op, i) => op === b[i]);
}

function embeddedRungeKutta(
  name: string,
  tableau: EmbeddedTableau,
  fields: readonly TimeDependent<VectorField>[],
): EmbeddedRungeKuttaScheme {
  const rate = unsplitRate(name, fields);
  const { a, b, bHat, c } = tableau;
  const stages = b.length;
  const e = b.map((bi, i) => bi - bHat[i]!);
  // A fixed step needs the stages up to the last nonzero b_i (the FSAL stage only feeds the estimate).
  const stepStages = b.reduce((last, bi, i) => (bi !== 0 ? i + 1 : last), 0);
  const rateAt = (u: Field, t: number, context: StepContext): StageRate => {
    const operators = rate.operatorsAt(t);
    return { values: rate.evaluate(u, t, context, operators), operators };
  };
  const stage = (u: Field, i: number, k: readonly tf.Tensor[], context: StepContext): StageRate => {
    context.countStage();
    return rateAt(u.withValues(combine(u.values, k, a[i]!, context.dt)), context.time(c[i]!), context);
  };
  return {
    kind: 'embedded-runge-kutta',
    name,
    order: tableau.order,
    errorOrder: tableau.embeddedOrder + 1,
    tableau,
    fields,
    operators: fields.map((value) => ({ role: `a ${name} term`, value })),
    rateAt,
    step(u, context) {
      const k: tf.Tensor[] = [];
      for (let i = 0; i < stepStages; i++) k.push(stage(u, i, k, context).values);
      return u.withValues(combine(u.values, k, b, context.dt));
    },
    trial(u, context, first) {
      const dt = context.dt;
      const t0 = context.time(c[0]!);
      let k1: StageRate;
      if (first !== undefined && sameOperators(first.operators, rate.operatorsAt(t0))) {
        k1 = first;
      } else {
        context.countStage();
        k1 = rateAt(u, t0, context);
      }
      const k: tf.Tensor[] = [k1.values];
      let next: tf.Tensor | undefined;
      let last: StageRate | undefined;
      for (let i = 1; i < stages; i++) {
        if (tableau.fsal && i === stages - 1) {
          // The last row of a is b: the last stage is G(u_{n+1}, t_{n+1}).
          next = combine(u.values, k, b, dt);
          context.countStage();
          last = rateAt(u.withValues(next), context.time(c[i]!), context);
          k.push(last.values);
        } else {
          k.push(stage(u, i, k, context).values);
        }
      }
      next ??= combine(u.values, k, b, dt);
      return { u: u.withValues(next), error: combine(undefined, k, e, dt), first: k1, last };
    },
  };
}

/**
 * Bogacki–Shampine 3(2) on `u_t = Σ_k F_k(u, t)` ({@link BOGACKI_SHAMPINE_32}): order 3 propagated, error
 * estimate of order 2 (k = 3 for the controller), FSAL — 3 new rate evaluations per step. Use it for loose
 * tolerances (rtol ≳ 1e-3) or rough θ(t). Shapes: `u: [B, N_x, N_y]` kept.
 *
 * @param fields the terms F_k: `VectorField`s on the state's feature grid, or schedules of them
 * @throws SolverError for an empty list or a term that is not a VectorField
 */
export function bogackiShampine(fields: readonly TimeDependent<VectorField>[]): EmbeddedRungeKuttaScheme {
  return embeddedRungeKutta('bogacki-shampine', BOGACKI_SHAMPINE_32, fields);
}

/**
 * Dormand–Prince 5(4) on `u_t = Σ_k F_k(u, t)` ({@link DORMAND_PRINCE_54}): order 5 propagated, error estimate
 * of order 4 (k = 5 for the controller), FSAL — 6 new rate evaluations per step. The default choice for smooth
 * fields and tolerances down to about 1e-6 (float32). Shapes: `u: [B, N_x, N_y]` kept.
 *
 * @param fields the terms F_k: `VectorField`s on the state's feature grid, or schedules of them
 * @throws SolverError for an empty list or a term that is not a VectorField
 */
export function dormandPrince(fields: readonly TimeDependent<VectorField>[]): EmbeddedRungeKuttaScheme {
  return embeddedRungeKutta('dormand-prince', DORMAND_PRINCE_54, fields);
}
