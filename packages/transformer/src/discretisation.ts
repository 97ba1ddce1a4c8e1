/**
 * Discretisations: a model's layers wired into a time-stepping scheme, and its readout (paper §4.1;
 * docs/splitting-and-recovery.md, docs/continuous-depth.md).
 *
 * - post-LN, scheme `'lie'` (`'exact'`: one step per layer): per step, Lie splitting of
 *   attention (explicit) → P₁^ε → affine₁ → FFN layer 1 (semi-implicit: ReLU projection, or explicit then GELU)
 *   → FFN layer 2 (explicit, restriction R) → relaxation ½(u^{(5)} + u^{(3)}) → P₂^{ε/4} → affine₂.
 *   With Δt = 1 this is *exactly* `u'' = LN(u + MHA(u)); u_out = LN(u'' + FFN(u''))` (the recovery theorem).
 *   With k > 1 steps per layer the projections act every sub-step (an O(1) map each time): the post-LN
 *   splitting is then a different model, not a refinement — see the README.
 * - pre-LN (GPT-2, `norm_first`): the ODE `u_t = G₁(u) + G₂(u)`; `'lie'`: Lie splitting with explicit
 *   Euler (Δt = 1 is the network); `'strang'`: the Macaron-style symmetric split G₂(½) G₁(1) G₂(½) (second
 *   order); `'euler'`, `'heun'`, `'rk4'` on the unsplit field. Refining Δt converges with the scheme's order.
 *
 * θ(t) is piecewise constant (layer i on [i, i+1)) or, with `schedule: 'linear'`, linearly interpolated
 * between layer centres.
 */
import { tf, describeValue, zipTrees } from '@tide/backend';
import type { Field } from '@tide/domain';
import {
  explicitEuler,
  explicitStep,
  heun,
  lieSplitting,
  linearInterpolation,
  mapSchedule,
  piecewiseConstant,
  pointwiseStep,
  projectionStep,
  relaxationStep,
  rk4,
  semiImplicitStep,
  strangSplitting,
  type Schedule,
  type Scheme,
  type SubStep,
} from '@tide/solvers';
import { DiscretisationError } from './errors.js';
import { postLnOperators, preLnRates, type PostLnOperators, type PreLnRates } from './layer-operators.js';
import type { LayerParameters, ModelConfig, TransformerModel } from './model.js';
import { modelReadout } from './readout.js';

/** The schemes a discretisation can run. `'exact'` is Lie splitting with one step per layer: the network itself. */
export const SCHEME_NAMES = ['exact', 'lie', 'strang', 'euler', 'heun', 'rk4'] as const;
export type SchemeName = (typeof SCHEME_NAMES)[number];

/** How to discretise a model's depth. */
export interface DiscretisationOptions {
  /** Default `'lie'` (with one step per layer: the checkpoint itself). */
  readonly scheme?: SchemeName;
  /** k steps per layer (Δt = 1/k); default 1. */
  readonly stepsPerLayer?: number;
  /** θ(t): `'piecewise'` (default) or `'linear'` between layer centres. */
  readonly schedule?: 'piecewise' | 'linear';
}

/** A ready-to-solve discretisation; dispose it after use (it owns derived tensors). */
export interface Discretisation {
  readonly scheme: Scheme;
  readonly t1: number;
  readonly stepsPerLayer: number;
  readonly description: string;
  /** The map from the state u(T) to the model's output: the final projection (if any), then the LM head (if any). */
  readonly readout: (u: Field) => tf.Tensor3D;
  dispose(): void;
}

/** A scheme over a model's layers, with what it owns. */
export interface LayerScheme {
  readonly scheme: Scheme;
  dispose(): void;
}

/** `(1 − s)·a + s·b` for every parameter of two layers (new tensors, owned by the caller). */
export function interpolateLayers(a: LayerParameters, b: LayerParameters, s: number): LayerParameters {
  return zipTrees(a, b, (x, y) => (s === 0 ? tf.clone(x) : tf.tidy(() => tf.add(tf.mul(x, 1 - s), tf.mul(y, s)))));
}

/** Checks scheme options once, at the library boundary (the CLI passes its flags through unchanged). */
export function checkDiscretisationOptions(options: DiscretisationOptions): Required<DiscretisationOptions> {
  if (typeof options !== 'object' || options === null)
    throw new DiscretisationError('discretisation options', {
      expected: 'an object { scheme?, stepsPerLayer?, schedule? }',
      received: describeValue(options),
      fix: 'pass {} for the defaults',
    });
  const scheme = options.scheme ?? 'lie';
  if (!(SCHEME_NAMES as readonly string[]).includes(scheme)) {
    throw new DiscretisationError('scheme', {
      expected: `one of ${SCHEME_NAMES.join(', ')}`,
      received: describeValue(scheme),
      fix: 'pass --scheme exact|lie|strang|euler|heun|rk4',
    });
  }
  const k = options.stepsPerLayer ?? 1;
  if (!Number.isInteger(k) || k < 1 || k > 4096) {
    throw new DiscretisationError('steps per layer', {
      expected: 'an integer from 1 to 4096',
      received: describeValue(k),
      fix: 'pass --steps-per-layer 1, 2, 4, …',
    });
  }
  if (scheme === 'exact' && k !== 1) {
    throw new DiscretisationError('scheme exact', {
      expected: 'one step per layer',
      received: `${k} steps per layer`,
      fix: 'use --scheme lie for Lie splitting with k steps per layer',
    });
  }
  const schedule = options.schedule ?? 'piecewise';
  if (schedule !== 'piecewise' && schedule !== 'linear')
    throw new DiscretisationError('schedule', {
      expected: "'piecewise' or 'linear'",
      received: describeValue(schedule),
      fix: 'pass --schedule piecewise|linear',
    });
  return { scheme, stepsPerLayer: k, schedule };
}

/** The post-LN sub-steps of one step (paper §4.1). */
function postLnSubSteps(ops: Schedule<PostLnOperators>): SubStep[] {
  const pick = <T>(f: (o: PostLnOperators) => T) => mapSchedule(ops, f);
  return [
    explicitStep(pick((o) => o.attention)), // 1: u + Δt·A[u]
    projectionStep(pick((o) => o.norm1)), // 2: P₁^ε
    pointwiseStep(pick((o) => o.affine1)), // 3: γ₁·u + β₁  (= u'')
    semiImplicitStep(
      pick((o) => o.ffn1),
      pick((o) => o.activation),
    ), // 4: Φ(E u + Δt(u W₁ + b₁)), Φ = P_{S₂} (ReLU) or GELU
    explicitStep(pick((o) => o.ffn2)), // 5: R v + Δt(v W₂ + b₂)
    relaxationStep([5, 3]), // 6: ½(u^{(5)} + u^{(3)})
    projectionStep(pick((o) => o.norm2Quarter)), // 7: P₂^{ε/4}
    pointwiseStep(pick((o) => o.affine2)), // 8: γ₂·u + β₂
  ];
}

function preLnScheme(rates: Schedule<PreLnRates>, name: SchemeName): Scheme {
  const g1 = mapSchedule(rates, (r) => r.attention);
  const g2 = mapSchedule(rates, (r) => r.feedforward);
  switch (name) {
    case 'exact':
    case 'lie':
      return lieSplitting([explicitStep(g1), explicitStep(g2)], `pre-ln ${name}`);
    case 'strang':
      return strangSplitting([g2, g1], 'pre-ln strang (macaron)');
    case 'euler':
      return explicitEuler([g1, g2]);
    case 'heun':
      return heun([g1, g2]);
    case 'rk4':
      return rk4([g1, g2]);
  }
}

/**
 * The scheme `name` over a model's layers: one set of parameters per layer (piecewise-constant θ, operators
 * built once), or any schedule θ(t) of layer parameters (interpolated, smooth; operators built at each
 * evaluation time inside the solve's per-step scope). Only the operators of the model's form are built.
 */
export function schemeForLayers(
  layers: readonly LayerParameters[] | Schedule<LayerParameters>,
  cfg: ModelConfig,
  name: SchemeName,
): LayerScheme {
  if (!cfg.normFirst && !(name === 'exact' || name === 'lie')) {
    throw new DiscretisationError(`scheme ${name}`, {
      expected: 'exact or lie for a post-LN model',
      received: `'${name}'`,
      fix: 'post-LN layers are projections, not a smooth field: Strang and Runge–Kutta apply to pre-LN models (norm_first, GPT-2)',
    });
  }
  const build = <T extends { dispose(): void }>(
    make: (p: LayerParameters, cfg: ModelConfig, i: number) => T,
  ): { ops: Schedule<T>; owned: T[] } => {
    if (!Array.isArray(layers)) {
      const theta = layers as Schedule<LayerParameters>;
      const last = Math.max(0, Math.ceil(theta.span[1] - theta.span[0]) - 1);
      return {
        ops: mapSchedule(theta, (p, t) => make(p, cfg, Math.min(last, Math.max(0, Math.floor(t - theta.span[0]))))),
        owned: [],
      };
    }
    const owned = (layers as readonly LayerParameters[]).map((l, i) => make(l, cfg, i));
    return { ops: piecewiseConstant(owned), owned };
  };
  if (cfg.normFirst) {
    const { ops, owned } = build(preLnRates);
    return { scheme: preLnScheme(ops, name), dispose: () => owned.forEach((o) => o.dispose()) };
  }
  const { ops, owned } = build(postLnOperators);
  return {
    scheme: lieSplitting(postLnSubSteps(ops), `post-ln ${name}`),
    dispose: () => owned.forEach((o) => o.dispose()),
  };
}

/** Wires a model into a scheme and its readout. */
export function discretise(model: TransformerModel, options: DiscretisationOptions = {}): Discretisation {
  const { scheme: name, stepsPerLayer: k, schedule } = checkDiscretisationOptions(options);
  const cfg = model.config;
  const layers = model.parameters.layers;
  const theta = schedule === 'linear' ? linearInterpolation(layers, interpolateLayers) : layers;
  const { scheme, dispose } = schemeForLayers(theta, cfg, name);
  const description = `${cfg.normFirst ? 'pre-LN' : 'post-LN'} ${name}, ${k} step(s) per layer, θ(t) ${schedule}`;
  return {
    scheme,
    t1: layers.length,
    stepsPerLayer: k,
    description,
    readout: modelReadout(model, layers.length),
    dispose,
  };
}
