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
 * between layer centres; a model with smooth controls (`config.controls`) has θ(t) = Σ_k c_k P_k(2t/T − 1), a
 * Legendre control over [0, T] (`legendreControl` of `@tide/solvers`), solved by any scheme but `'exact'`.
 */
import { tf, describeValue, treeLeaves, zipTrees } from '@tide/backend';
import type { KeyValueCache } from '@tide/attention';
import type { Field } from '@tide/domain';
import {
  explicitStep,
  fieldScheme,
  legendreControl,
  lieSplitting,
  linearInterpolation,
  mapSchedule,
  piecewiseConstant,
  pointwiseStep,
  projectionStep,
  relaxationStep,
  semiImplicitStep,
  type Schedule,
  type Scheme,
  type SubStep,
} from '@tide/solvers';
import { DiscretisationError } from './errors.js';
import { postLnOperators, preLnRates, type PostLnOperators, type PreLnRates } from './layer-operators.js';
import type { LayerParameters, ModelConfig, TransformerModel } from './model.js';
import { modelReadout } from './readout.js';

/** The schemes a discretisation can run. `'exact'` is Lie splitting with one step per layer: the network itself. */
export const SCHEME_NAMES = ['exact', 'lie', 'strang', 'euler', 'heun', 'rk4', 'dopri5', 'bosh3'] as const;
/** The schemes with an embedded error estimate: Dormand–Prince 5(4) and Bogacki–Shampine 3(2). */
export const ADAPTIVE_SCHEMES: readonly SchemeName[] = ['dopri5', 'bosh3'];
export type SchemeName = (typeof SCHEME_NAMES)[number];

/** How to discretise a model's depth. */
export interface DiscretisationOptions {
  /** Default `'lie'` (with one step per layer: the checkpoint itself). */
  readonly scheme?: SchemeName;
  /** k steps per layer (Δt = 1/k); default 1. */
  readonly stepsPerLayer?: number;
  /** θ(t): `'piecewise'` (default) or `'linear'` between layer centres. */
  readonly schedule?: 'piecewise' | 'linear';
  /**
   * Adaptive steps to a tolerance (schemes `dopri5`, `bosh3`; docs/continuous-depth.md, "Adaptive step-size
   * control"): the controller chooses Δt so that every step's scaled error `‖e/(atol + rtol·|u|)‖_RMS ≤ 1`.
   * `atol` defaults to `rtol`. Steps end at every layer boundary. Without it those schemes take
   * `stepsPerLayer` fixed steps.
   */
  readonly tolerance?: { readonly rtol: number; readonly atol?: number };
}

/** Checked discretisation options (defaults filled in; `tolerance` only for an adaptive solve). */
export interface CheckedDiscretisationOptions {
  readonly scheme: SchemeName;
  readonly stepsPerLayer: number;
  readonly schedule: 'piecewise' | 'linear';
  readonly tolerance: { readonly rtol: number; readonly atol: number } | undefined;
}

/** A ready-to-solve discretisation; dispose it after use (it owns derived tensors). */
export interface Discretisation {
  readonly scheme: Scheme;
  readonly t1: number;
  readonly stepsPerLayer: number;
  /** The tolerance of an adaptive solve (the solve's `step` is then `{ rtol, atol }`), else `undefined`. */
  readonly tolerance: CheckedDiscretisationOptions['tolerance'];
  readonly description: string;
  /** The map from the state u(T) to the model's output: the final projection (if any), then the LM head (if any). */
  readonly readout: (u: Field) => tf.Tensor3D;
  dispose(): void;
}

/**
 * How the operators of a discretisation are built (not a discretisation choice): `cache`, a key/value cache
 * every attention operator evaluates through (incremental causal solves; see `forward`'s `cache`).
 */
export interface OperatorOptions {
  readonly cache?: KeyValueCache;
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

/**
 * The discretisation to run a model with when the caller names none: the one its checkpoint recommends (the
 * scheme it was trained with), else the network itself (`exact`) for layer controls and RK4 with one step per
 * unit time for smooth controls (whose Δt = 1 Lie step is not what they were trained for).
 */
export function recommendedDiscretisation(model: TransformerModel): { scheme: SchemeName; stepsPerLayer: number } {
  if (typeof model?.config !== 'object' || model.config === null)
    throw new DiscretisationError('recommendedDiscretisation: model', {
      expected: 'a loaded model (loadCheckpoint, modelFromTensors)',
      received: describeValue(model),
      fix: 'pass the model itself',
    });
  const r = model.config.recommended;
  if (r !== undefined) return { scheme: r.scheme, stepsPerLayer: r.stepsPerLayer };
  return model.config.controls !== undefined
    ? { scheme: 'rk4', stepsPerLayer: 1 }
    : { scheme: 'exact', stepsPerLayer: 1 };
}

/** Checks scheme options once, at the library boundary (the CLI passes its flags through unchanged). */
export function checkDiscretisationOptions(options: DiscretisationOptions): CheckedDiscretisationOptions {
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
      fix: 'pass --scheme exact|lie|strang|euler|heun|rk4|dopri5|bosh3',
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
  return { scheme, stepsPerLayer: k, schedule, tolerance: checkTolerance(options.tolerance, scheme, k) };
}

function checkTolerance(
  tolerance: DiscretisationOptions['tolerance'],
  scheme: SchemeName,
  k: number,
): CheckedDiscretisationOptions['tolerance'] {
  if (tolerance === undefined) return undefined;
  if (!ADAPTIVE_SCHEMES.includes(scheme))
    throw new DiscretisationError('tolerance', {
      expected: `an adaptive scheme (${ADAPTIVE_SCHEMES.join(', ')}) for a solve to a tolerance`,
      received: `scheme '${scheme}'`,
      fix: 'pass --scheme dopri5 (or bosh3) with --rtol, or leave the tolerance out for fixed steps',
    });
  if (k !== 1)
    throw new DiscretisationError('tolerance', {
      expected: 'the step chosen by the controller',
      received: `${k} fixed steps per layer as well`,
      fix: 'leave --steps-per-layer out of an adaptive solve',
    });
  const { rtol, atol = tolerance?.rtol } = (tolerance ?? {}) as { rtol?: unknown; atol?: unknown };
  for (const [name, value] of [
    ['rtol', rtol],
    ['atol', atol],
  ] as const) {
    if (typeof value !== 'number' || !(value > 0) || !(value < 1))
      throw new DiscretisationError(`tolerance: ${name}`, {
        expected: 'a number in (0, 1)',
        received: describeValue(value),
        fix: `pass --${name} 1e-3 (float32 allows down to about 1e-6)`,
      });
  }
  return { rtol: rtol as number, atol: atol as number };
}

/**
 * θ(t) of a model: its Legendre control over [0, T] when it has smooth controls (`config.controls`), else
 * `undefined` (a discrete network's θ is its layers). Every value the schedule gives is new tensors owned by the
 * caller; the schedule owns nothing. Throws a {@link DiscretisationError} when the parameter tree does not hold
 * the K coefficient sets the config declares.
 */
export function controlSchedule(model: TransformerModel): Schedule<LayerParameters> | undefined {
  const controls = model.config.controls;
  if (controls === undefined) return undefined;
  const layers = model.parameters.layers;
  if (layers.length !== controls.coefficients)
    throw new DiscretisationError(`${model.source}: smooth controls`, {
      expected: `${controls.coefficients} Legendre coefficient sets in parameters.layers (config.controls)`,
      received: `${layers.length}`,
      fix: 'build the model with one LayerParameters per coefficient, or fix config.controls.coefficients',
    });
  return legendreControl(layers, { span: [0, model.config.numLayers] });
}

/**
 * Refuses the options that have no meaning for a smooth-control model: `scheme: 'exact'` (Δt = 1 with one
 * parameter set per layer) and `schedule: 'linear'` (interpolation between layers it does not have).
 */
export function checkControlsOptions(cfg: ModelConfig, options: DiscretisationOptions): void {
  if (cfg.controls === undefined) return;
  const k = cfg.controls.coefficients;
  if (options.scheme === 'exact')
    throw new DiscretisationError('scheme exact', {
      expected: `a time-stepping scheme for smooth controls θ(t) (a Legendre control with ${k} coefficients)`,
      received: "'exact' (Δt = 1 with one parameter set per layer: this model has no layers)",
      fix: 'use --scheme rk4 (or lie, strang, euler, heun) with --steps-per-layer k',
    });
  if (options.schedule === 'linear')
    throw new DiscretisationError('schedule linear', {
      expected: `θ(t) from the model's ${k} Legendre coefficients (smooth controls)`,
      received: "'linear' (interpolation between layer centres: this model has no layers)",
      fix: 'leave --schedule out and pick a scheme, e.g. --scheme rk4',
    });
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
  const label =
    name === 'strang' ? 'pre-ln strang (macaron)' : name === 'lie' || name === 'exact' ? `pre-ln ${name}` : undefined;
  return fieldScheme(name === 'exact' ? 'lie' : name, [g1, g2], label);
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
  operators: OperatorOptions = {},
): LayerScheme {
  const cache = operators?.cache;
  if (!cfg.normFirst && !(name === 'exact' || name === 'lie')) {
    throw new DiscretisationError(`scheme ${name}`, {
      expected: 'exact or lie for a post-LN model',
      received: `'${name}'`,
      fix: 'post-LN layers are projections, not a smooth field: Strang and Runge–Kutta apply to pre-LN models (norm_first, GPT-2)',
    });
  }
  const build = <T extends { dispose(): void }>(
    make: (p: LayerParameters, cfg: ModelConfig, i: number, cache: KeyValueCache | undefined) => T,
  ): { ops: Schedule<T>; owned: T[] } => {
    if (!Array.isArray(layers)) {
      const theta = layers as Schedule<LayerParameters>;
      const last = Math.max(0, Math.ceil(theta.span[1] - theta.span[0]) - 1);
      // Pre-LN: both terms of a stage (G₁ and G₂) read θ at the same time, so θ(t) is built once per time. The
      // rates own no tensors, so the memo is valid while θ(t)'s tensors live (they belong to the solve's per-step
      // scope): a later step or solve never sees disposed tensors. Post-LN operators own tensors: built per call.
      let memo: { t: number; parameters: LayerParameters; ops: T } | undefined;
      const live = (p: LayerParameters) => treeLeaves(p).every(([, x]) => !x.isDisposed);
      return {
        ops: {
          kind: 'schedule',
          span: theta.span,
          at(t: number): T {
            if (memo !== undefined && memo.t === t && live(memo.parameters)) return memo.ops;
            const parameters = theta.at(t);
            const index = Math.min(last, Math.max(0, Math.floor(t - theta.span[0])));
            const ops = make(parameters, cfg, index, cache);
            if (cfg.normFirst) memo = { t, parameters, ops };
            return ops;
          },
        },
        owned: [],
      };
    }
    const owned = (layers as readonly LayerParameters[]).map((l, i) => make(l, cfg, i, cache));
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

/** Wires a model into a scheme and its readout (with `operators.cache`: attention through a key/value cache). */
export function discretise(
  model: TransformerModel,
  options: DiscretisationOptions = {},
  operators: OperatorOptions = {},
): Discretisation {
  const { scheme: name, stepsPerLayer: k, schedule } = checkDiscretisationOptions(options);
  const cfg = model.config;
  checkControlsOptions(cfg, options);
  const layers = model.parameters.layers;
  const smooth = controlSchedule(model);
  const theta = smooth ?? (schedule === 'linear' ? linearInterpolation(layers, interpolateLayers) : layers);
  const T = smooth === undefined ? layers.length : cfg.numLayers;
  const { scheme, dispose } = schemeForLayers(theta, cfg, name, operators);
  const controls = cfg.controls === undefined ? schedule : `Legendre (K = ${cfg.controls.coefficients})`;
  const { tolerance } = checkDiscretisationOptions(options);
  const steps = tolerance
    ? `adaptive steps (rtol ${tolerance.rtol}, atol ${tolerance.atol})`
    : `${k} step(s) per layer`;
  const description = `${cfg.normFirst ? 'pre-LN' : 'post-LN'} ${name}, ${steps}, θ(t) ${controls}`;
  return {
    scheme,
    t1: T,
    stepsPerLayer: k,
    tolerance,
    description,
    readout: modelReadout(model, T),
    dispose,
  };
}
