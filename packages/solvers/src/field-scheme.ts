/**
 * A scheme by name for a plain ODE `u_t = Σ_j G_j(u, t)` given as a sum of vector fields (paper §4–§5;
 * docs/splitting-and-recovery.md, docs/continuous-depth.md): the form a pre-LN Transformer layer has, text or
 * image (`G₁ = A∘P₁`, `G₂ = FFN∘P₂`).
 *
 * - `'lie'`: Lie splitting, one explicit Euler sub-step per field in order (Δt = 1: the residual network);
 * - `'strang'`: Strang splitting with the fields in reverse order, `G_m(½) … G_2(½) G_1(1) G_2(½) … G_m(½)` (for a
 *   layer: the Macaron-style FFN(½) A(1) FFN(½)), second order;
 * - `'euler'`, `'heun'`, `'rk4'`: explicit Runge–Kutta on the unsplit field Σ_j G_j (orders 1, 2, 4);
 * - `'dopri5'`, `'bosh3'`: the embedded pairs, fixed or adaptive steps (see `solve`'s `step`).
 */
import { describeValue } from '@tide/backend';
import type { VectorField } from '@tide/domain';
import { bogackiShampine, dormandPrince } from './embedded-runge-kutta.js';
import { SolverError } from './errors.js';
import type { TimeDependent } from './schedule.js';
import { explicitEuler, heun, lieSplitting, rk4, strangSplitting, type Scheme } from './schemes.js';
import { explicitStep } from './sub-steps.js';

/** The names {@link fieldScheme} knows. */
export const FIELD_SCHEME_NAMES = ['lie', 'strang', 'euler', 'heun', 'rk4', 'dopri5', 'bosh3'] as const;
export type FieldSchemeName = (typeof FIELD_SCHEME_NAMES)[number];

/** The scheme `name` for `u_t = Σ_j fields_j(u, t)`; `label` names it in descriptions (default `name`). */
export function fieldScheme(
  name: FieldSchemeName,
  fields: readonly TimeDependent<VectorField>[],
  label: string = name,
): Scheme {
  if (!Array.isArray(fields) || fields.length === 0)
    throw new SolverError('fieldScheme: fields', {
      expected: 'at least one vector field (or schedule of vector fields)',
      received: describeValue(fields),
      fix: 'pass the terms of the right-hand side, e.g. [attention, feedforward]',
    });
  switch (name) {
    case 'lie':
      return lieSplitting(
        fields.map((f) => explicitStep(f)),
        label,
      );
    case 'strang':
      return strangSplitting([...fields].reverse(), label);
    case 'euler':
      return explicitEuler(fields);
    case 'heun':
      return heun(fields);
    case 'rk4':
      return rk4(fields);
    case 'dopri5':
      return dormandPrince(fields);
    case 'bosh3':
      return bogackiShampine(fields);
    default:
      throw new SolverError('fieldScheme: name', {
        expected: `one of ${FIELD_SCHEME_NAMES.join(', ')}`,
        received: describeValue(name),
        fix: "pass e.g. 'lie' or 'rk4'",
      });
  }
}
