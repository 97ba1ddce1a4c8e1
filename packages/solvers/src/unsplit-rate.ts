/**
 * The rate of the unsplit field, `G(u, t) = Σ_k F_k(u, t)` (paper §4–§5): what every Runge–Kutta scheme of this
 * package evaluates at its stages — the fixed-step `explicitEuler`, `heun`, `rk4` and the embedded pairs
 * `bogackiShampine`, `dormandPrince`. The terms come in through the operator contract of `@tide/domain`
 * (`VectorField`, constant or scheduled); each evaluation is counted and checked by the {@link StepContext}.
 */
import { tf, describeValue } from '@tide/backend';
import type { Field, VectorField } from '@tide/domain';
import { SolverError } from './errors.js';
import { checkTimeDependent, operatorAt } from './operator-kinds.js';
import type { TimeDependent } from './schedule.js';
import type { StepContext } from './step-context.js';

/** `G(u, t) = Σ_k F_k(u, t)` over the terms of a Runge–Kutta scheme. */
export interface UnsplitRate {
  /** The terms' operators at time t, each checked to be a `VectorField` (a schedule's value as it is read). */
  operatorsAt(t: number): VectorField[];
  /**
   * `Σ_k F_k(v, t)` as a tensor of `v`'s shape `[B, N_x, N_y]`, with `operators` (default: those at t). Each
   * term is one counted evaluation; a term that lifts the features (`embed`) or changes the width is refused.
   */
  evaluate(v: Field, t: number, context: StepContext, operators?: readonly VectorField[]): tf.Tensor;
}

/**
 * The unsplit rate of `fields` for the scheme `name` (its error messages say "`name`: term i").
 *
 * @throws SolverError for an empty list or a term that is not a `VectorField` (or a schedule of them)
 */
export function unsplitRate(name: string, fields: readonly TimeDependent<VectorField>[]): UnsplitRate {
  if (!Array.isArray(fields) || fields.length === 0) {
    throw new SolverError(name, {
      expected: 'at least one sub-step or term',
      received: describeValue(fields),
      fix: 'list the operators the scheme steps through',
    });
  }
  fields.forEach((f, i) => checkTimeDependent(`${name}: term ${i}`, f, ['vector-field']));
  const operatorsAt = (t: number): VectorField[] =>
    fields.map((f, i) => operatorAt(`${name}: term ${i}`, f, t, ['vector-field']));
  return {
    operatorsAt,
    evaluate(v, t, context, operators = operatorsAt(t)) {
      const parts = operators.map((field) => {
        if (field.embed !== undefined) {
          throw new SolverError(`solve: ${name} on "${field.label}"`, {
            expected: "rates on the state's feature grid",
            received: 'a rate with a feature lift',
            fix: 'Runge–Kutta schemes integrate the unsplit field on one feature grid',
          });
        }
        const r = context.evaluate(field, v, t);
        if (r.features !== v.features)
          throw new SolverError(`solve: ${name}`, {
            expected: `rates with ${v.features} features`,
            received: `${r.features}`,
            fix: 'every term must keep the feature grid',
          });
        return r.values;
      });
      return parts.length === 1 ? parts[0]! : tf.addN(parts);
    },
  };
}
