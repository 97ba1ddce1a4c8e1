/**
 * How an image model's depth is discretised (paper §4–§5; docs/splitting-and-recovery.md): every layer is one
 * unit of time of the pre-LN ODE `u_t = G₁(u) + G₂(u)`; `'exact'` (= `'lie'` with one step per layer) is the
 * network itself, `'strang'` the Macaron split, `'euler'`/`'heun'`/`'rk4'` Runge–Kutta on the unsplit field, with
 * k steps per layer (Δt = 1/k). A CvT runs one solve per stage, on the stage's own grid.
 */
import { describeValue } from '@tide/backend';
import type { Field } from '@tide/domain';
import { FIELD_SCHEME_NAMES, fieldScheme, mapSchedule, piecewiseConstant, solve, type Solution } from '@tide/solvers';
import { VisionDiscretisationError } from './errors.js';
import type { VisionLayerRates } from './layer-rates.js';

/** The schemes an image model runs with. `'exact'` is Lie splitting with one step per layer. */
export const VISION_SCHEME_NAMES = ['exact', ...FIELD_SCHEME_NAMES] as const;
export type VisionSchemeName = (typeof VISION_SCHEME_NAMES)[number];

/** A discretisation of depth. */
export interface VisionDiscretisationOptions {
  /** Default `'exact'`: the checkpoint's network. */
  readonly scheme?: VisionSchemeName;
  /** k steps per layer (Δt = 1/k); default 1. */
  readonly stepsPerLayer?: number;
}

/** Checked options with their defaults. */
export interface CheckedVisionDiscretisation {
  readonly scheme: VisionSchemeName;
  readonly stepsPerLayer: number;
}

/** Checks a discretisation's options. */
export function checkVisionDiscretisation(options: VisionDiscretisationOptions = {}): CheckedVisionDiscretisation {
  if (typeof options !== 'object' || options === null)
    throw new VisionDiscretisationError('discretisation options', {
      expected: 'an object { scheme?, stepsPerLayer? }',
      received: describeValue(options),
      fix: 'pass {} for the network itself',
    });
  const scheme = options.scheme ?? 'exact';
  if (!(VISION_SCHEME_NAMES as readonly string[]).includes(scheme))
    throw new VisionDiscretisationError('scheme', {
      expected: `one of ${VISION_SCHEME_NAMES.join(', ')}`,
      received: describeValue(scheme),
      fix: 'pass --scheme exact|lie|strang|euler|heun|rk4|dopri5|bosh3',
    });
  const k = options.stepsPerLayer ?? 1;
  if (!Number.isInteger(k) || k < 1 || k > 4096)
    throw new VisionDiscretisationError('steps per layer', {
      expected: 'an integer from 1 to 4096',
      received: describeValue(k),
      fix: 'pass --steps-per-layer 1, 2, 4, …',
    });
  if (scheme === 'exact' && k !== 1)
    throw new VisionDiscretisationError('scheme exact', {
      expected: 'one step per layer',
      received: `${k} steps per layer`,
      fix: 'use --scheme lie for Lie splitting with k steps per layer',
    });
  return { scheme, stepsPerLayer: k };
}

/** A one-line description, e.g. `pre-LN rk4, 4 step(s) per layer`. */
export function describeVisionDiscretisation(d: CheckedVisionDiscretisation): string {
  return `pre-LN ${d.scheme}, ${d.stepsPerLayer} step(s) per layer`;
}

/**
 * Solves `u_t = G₁(u) + G₂(u)` over the layers' `rates` (layer i on [i, i + 1)) from `u0` with the checked
 * discretisation; with `saveLayers` the states at t = 0, 1, …, L are kept. The caller owns the solution.
 */
export function solveLayers(
  u0: Field,
  rates: readonly VisionLayerRates[],
  d: CheckedVisionDiscretisation,
  saveLayers = false,
): Solution {
  const theta = piecewiseConstant(rates);
  const g1 = mapSchedule(theta, (r) => r.attention);
  const g2 = mapSchedule(theta, (r) => r.feedforward);
  const scheme = fieldScheme(d.scheme === 'exact' ? 'lie' : d.scheme, [g1, g2], `pre-ln ${d.scheme}`);
  const L = rates.length;
  return solve(u0, scheme, {
    t1: L,
    step: { stepsPerUnit: d.stepsPerLayer },
    ...(saveLayers && { saveAt: Array.from({ length: L + 1 }, (_, i) => i) }),
  });
}
