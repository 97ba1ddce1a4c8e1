/**
 * Step doubling (paper §5, continuous depth; docs/continuous-depth.md): an error estimate for any fixed-step
 * scheme — in particular the Lie and Strang splittings, whose sub-steps (projections, pointwise maps) have no
 * embedded pair. One trial step over Δt runs the scheme once over Δt (u₁) and twice over Δt/2 (u₂); for a
 * scheme of order p, Richardson's argument gives the local error of u₂ as
 *
 *     e ≈ (u₂ − u₁) / (2^p − 1)        (O(Δt^(p+1)): k = p + 1 for the controller)
 *
 * A step keeps the Richardson extrapolation u₂ + e, of order p + 1 (as the embedded pairs keep their higher-order
 * solution, so the global error is about proportional to tol), when the scheme has only rates and relaxations;
 * otherwise u₂, the scheme's own output, so that a projection's constraint holds exactly at every step end (the
 * extrapolation assumes an error expansion in powers of Δt, which a projection or pointwise map applied once
 * per step does not have). Cost: three steps of the scheme per trial step. The estimate comes from two float32 states, so it carries their rounding (≈ 1e-7·|u|):
 * keep rtol ≳ 1e-5.
 */
import { tf, describeValue } from '@tide/backend';
import { SolverError } from './errors.js';
import type { ErrorEstimator } from './error-estimate.js';
import type { Scheme, SchemeBehaviour } from './schemes.js';

/** A scheme stepped by halves, with the Richardson estimate of the halves' local error. */
export interface StepDoublingScheme extends SchemeBehaviour, ErrorEstimator {
  readonly kind: 'step-doubling';
  /** The scheme it doubles. */
  readonly scheme: Scheme;
  /** p, the order assumed in the estimate. */
  readonly order: number;
  /** Whether a step keeps the extrapolated u₂ + e instead of u₂. */
  readonly extrapolate: boolean;
}

/** Sub-step kinds an extrapolated state may come from: rates and relaxations (affine in the stages). */
const AFFINE_KINDS = new Set(['explicit', 'relaxation']);

/** The first sub-step of `scheme` that is not a rate or a relaxation, if any. */
function closingSubStep(scheme: Scheme): { kind: string } | undefined {
  switch (scheme.kind) {
    case 'splitting':
      return scheme.subSteps.find((sub) => !AFFINE_KINDS.has(sub.kind));
    case 'parallel':
      return scheme.branches.flat().find((sub) => !AFFINE_KINDS.has(sub.kind));
    case 'step-doubling':
      return closingSubStep(scheme.scheme);
    default:
      return undefined;
  }
}

/**
 * Step doubling of `scheme`: a trial step over Δt takes two steps of `scheme` over Δt/2 (u₂) and one over Δt
 * (u₁), estimates the local error of u₂ as `e = (u₂ − u₁)/(2^p − 1)` and keeps u₂ + e or u₂ (see
 * `extrapolate`); on a fixed grid a step is the same. So
 * `solve(u0, stepDoubling(strangSplitting([F, G])), { t1, step: { rtol, atol } })` is adaptive Strang.
 * Shapes: those of `scheme` (`[B, N_x, N_y] → [B, N_x, N_y']`).
 *
 * The tolerance bounds the local error of every step. With extrapolation the kept solution is one order higher
 * than the estimate, as in the embedded pairs, and the global error is about proportional to tol; without it
 * (a scheme with projections), the global error grows like tol^(p/(p+1)) (Lie √tol, Strang tol^(2/3)).
 *
 * @param scheme any scheme; its operators and their schedules are the doubled scheme's
 * @param options.order p (default: the scheme's own `order` — Lie 1, Strang 2, parallel 1, RK its order)
 * @param options.extrapolate keep u₂ + e (default: true when every sub-step is a rate or a relaxation, else
 *   false). Refused for a scheme with projection, semi-implicit or pointwise sub-steps: the extrapolated state
 *   would leave their sets (S₂ = {u ≥ 0}) by O(e).
 * @throws SolverError when `scheme` is not a scheme, the order is not an integer ≥ 1, or extrapolation is
 *   asked of a scheme with non-affine sub-steps
 */
export function stepDoubling(
  scheme: Scheme,
  options: { order?: number; extrapolate?: boolean } = {},
): StepDoublingScheme {
  const s = scheme as Partial<Scheme> | null | undefined;
  if (typeof s?.step !== 'function' || !Array.isArray(s.operators)) {
    throw new SolverError('stepDoubling: scheme', {
      expected: 'a scheme (lieSplitting, strangSplitting, parallelSplitting, explicitEuler, heun, rk4, …)',
      received: describeValue(scheme),
      fix: 'build the scheme with its constructor',
    });
  }
  if (typeof options !== 'object' || options === null) {
    throw new SolverError('stepDoubling: options', {
      expected: 'an options object (or nothing)',
      received: describeValue(options),
      fix: 'omit it to use the scheme order',
    });
  }
  const order = options.order ?? scheme.order;
  if (!Number.isInteger(order) || order < 1) {
    throw new SolverError('stepDoubling: order', {
      expected: 'the scheme order p, an integer ≥ 1',
      received: describeValue(order),
      fix: 'Lie and parallel splitting are order 1, Strang 2',
    });
  }
  const closing = closingSubStep(scheme);
  const extrapolate = options.extrapolate ?? closing === undefined;
  if (typeof extrapolate !== 'boolean') {
    throw new SolverError('stepDoubling: extrapolate', {
      expected: 'true or false',
      received: describeValue(extrapolate),
      fix: 'omit it to extrapolate whenever the scheme has only rates and relaxations',
    });
  }
  if (extrapolate && closing !== undefined) {
    throw new SolverError('stepDoubling: extrapolate', {
      expected: 'a scheme of rates and relaxations only',
      received: `${scheme.name} with a ${closing.kind} sub-step`,
      fix: 'omit extrapolate, so that each step ends on the constraint set',
    });
  }
  const halves: SchemeBehaviour['step'] = (u, context) =>
    scheme.step(scheme.step(u, context.within(0, 0.5)), context.within(0.5, 0.5));
  const trial: ErrorEstimator['trial'] = (u, context) => {
    const one = scheme.step(u, context);
    const two = halves(u, context);
    if (one.features !== two.features) {
      throw new SolverError(`solve: step doubling of ${scheme.name}`, {
        expected: 'the same feature grid after one step and after two half steps',
        received: `${one.features} and ${two.features} features`,
        fix: 'lift the features in one sub-step of the scheme only',
      });
    }
    const error = tf.div(tf.sub(two.values, one.values), 2 ** order - 1);
    return { u: extrapolate ? two.withValues(tf.add(two.values, error)) : two, error };
  };
  return {
    kind: 'step-doubling',
    name: `${scheme.name} (step doubling)`,
    scheme,
    order,
    extrapolate,
    errorOrder: order + 1,
    operators: scheme.operators,
    // On a fixed grid a step is what a trial would keep: u₂ + e (order p + 1), or u₂.
    step: extrapolate ? (u, context) => trial(u, context).u : halves,
    trial,
  };
}
