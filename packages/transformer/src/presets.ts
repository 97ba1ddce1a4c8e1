/**
 * Presets: a model's layers wired into a time-stepping scheme (paper §4.1, SPEC §2).
 *
 * - post-LN, scheme `'exact'` / `'lie'`: per step, Lie splitting of
 *   attention (explicit) → P₁^ε → affine₁ → FFN layer 1 (semi-implicit: ReLU projection, or explicit then GELU)
 *   → FFN layer 2 (explicit, restriction R) → relaxation ½(u^{(5)} + u^{(3)}) → P₂^{ε/4} → affine₂.
 *   With Δt = 1 this is *exactly* `u'' = LN(u + MHA(u)); u_out = LN(u'' + FFN(u''))` (the recovery theorem).
 *   With k > 1 steps per layer the projections act every sub-step (an O(1) map each time): the post-LN
 *   splitting is then a different model, not a refinement — see the README.
 * - pre-LN (GPT-2, `norm_first`): the ODE `u_t = G₁(u) + G₂(u)`; `'exact'`/`'lie'`: Lie splitting with explicit
 *   Euler (Δt = 1 is the network); `'strang'`: the Macaron-style symmetric split G₂(½) G₁(1) G₂(½) (second
 *   order); `'euler'`, `'heun'`, `'rk4'` on the unsplit field. Refining Δt converges with the scheme's order.
 *
 * θ(t) is piecewise constant (layer i on [i, i+1)) or, with `schedule: 'linear'`, linearly interpolated
 * between layer centres.
 */
import { tf, describeValue } from '@tide/backend';
import {
  explicitEuler, explicitStep, heun, lieSplitting, linearInterpolation, mapSchedule, piecewiseConstant, pointwiseStep,
  projectionStep, relaxationStep, rk4, semiImplicitStep, strangSplitting, type Schedule, type Scheme, type SubStep,
} from '@tide/solvers';
import { CheckpointError } from './errors.js';
import { layerOperators, type LayerOperators } from './layer-operators.js';
import type { LayerParameters, ModelConfig, TransformerModel } from './model.js';

/** The schemes a preset can run. */
export const SCHEME_NAMES = ['exact', 'lie', 'strang', 'euler', 'heun', 'rk4'] as const;
export type SchemeName = (typeof SCHEME_NAMES)[number];

/** How to discretise a model's depth. */
export interface DiscretisationOptions {
  /** Default `'exact'` (Lie, one step per layer: the checkpoint itself). */
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
  dispose(): void;
}

/** `(1 − s)·a + s·b` for every parameter of two layers (new tensors, owned by the caller). */
export function interpolateLayers(a: LayerParameters, b: LayerParameters, s: number): LayerParameters {
  const mix = <T extends tf.Tensor>(x: T, y: T): T => (s === 0 ? tf.clone(x) : (tf.add(tf.mul(x, 1 - s), tf.mul(y, s)) as T));
  const att = Object.fromEntries(Object.entries(a.attention).map(([k, v]) => [k, v === undefined ? undefined : mix(v as tf.Tensor, (b.attention as unknown as Record<string, tf.Tensor>)[k]!)]));
  return {
    attention: att as unknown as LayerParameters['attention'],
    norm1: { gamma: mix(a.norm1.gamma, b.norm1.gamma), beta: mix(a.norm1.beta, b.norm1.beta) },
    norm2: { gamma: mix(a.norm2.gamma, b.norm2.gamma), beta: mix(a.norm2.beta, b.norm2.beta) },
    w1: mix(a.w1, b.w1), b1: mix(a.b1, b.b1), w2: mix(a.w2, b.w2), b2: mix(a.b2, b.b2),
  };
}

/** The post-LN sub-steps of one step (paper §4.1). */
function postLnSubSteps(ops: Schedule<LayerOperators>, relu: boolean): SubStep[] {
  const pick = <T>(f: (o: LayerOperators) => T) => mapSchedule(ops, f);
  return [
    explicitStep(pick((o) => o.attention)), // 1: u + Δt·A[u]
    projectionStep(pick((o) => o.norm1)), // 2: P₁^ε
    pointwiseStep(pick((o) => o.affine1)), // 3: γ₁·u + β₁  (= u'')
    relu
      ? semiImplicitStep(pick((o) => o.ffn1), pick((o) => o.activation as import('@tide/domain').Projection)) // 4: P_{S₂}(E u + Δt(u W₁ + b₁))
      : semiImplicitStep(pick((o) => o.ffn1), pick((o) => o.activation)), // 4: GELU(E u + Δt(u W₁ + b₁))
    explicitStep(pick((o) => o.ffn2)), // 5: R v + Δt(v W₂ + b₂)
    relaxationStep([5, 3]), // 6: ½(u^{(5)} + u^{(3)})
    projectionStep(pick((o) => o.norm2Quarter)), // 7: P₂^{ε/4}
    pointwiseStep(pick((o) => o.affine2)), // 8: γ₂·u + β₂
  ];
}

/**
 * The scheme `name` over a schedule of layer operators (any θ(t): piecewise constant, interpolated, or a
 * smooth function of time) for a model of configuration `cfg`.
 */
export function schemeForOperators(ops: Schedule<LayerOperators>, cfg: ModelConfig, name: SchemeName): Scheme {
  const g1 = mapSchedule(ops, (o) => o.preAttention);
  const g2 = mapSchedule(ops, (o) => o.preFeedforward);
  if (!cfg.normFirst) {
    if (!(name === 'exact' || name === 'lie')) {
      throw new CheckpointError(`scheme ${name}`, {
        expected: 'exact or lie for a post-LN model',
        received: `'${name}'`,
        fix: 'post-LN layers are projections, not a smooth field: Strang and Runge–Kutta apply to pre-LN models (norm_first, GPT-2)',
      });
    }
    return lieSplitting(postLnSubSteps(ops, cfg.activation === 'relu'), `post-ln ${name}`);
  }
  return name === 'exact' || name === 'lie' ? lieSplitting([explicitStep(g1), explicitStep(g2)], `pre-ln ${name}`)
    : name === 'strang' ? strangSplitting([g2, g1], 'pre-ln strang (macaron)')
      : name === 'euler' ? explicitEuler([g1, g2])
        : name === 'heun' ? heun([g1, g2])
          : rk4([g1, g2]);
}

/** Wires a model into a scheme. */
export function discretise(model: TransformerModel, options: DiscretisationOptions = {}): Discretisation {
  const name = options.scheme ?? 'exact';
  if (!(SCHEME_NAMES as readonly string[]).includes(name)) {
    throw new CheckpointError('scheme', { expected: `one of ${SCHEME_NAMES.join(', ')}`, received: describeValue(name), fix: 'pass --scheme exact|lie|strang|euler|heun|rk4' });
  }
  const k = options.stepsPerLayer ?? 1;
  if (!Number.isInteger(k) || k < 1) {
    throw new CheckpointError('steps per layer', { expected: 'an integer ≥ 1', received: describeValue(k), fix: 'pass --steps-per-layer 1, 2, 4, …' });
  }
  if (name === 'exact' && k !== 1) {
    throw new CheckpointError('scheme exact', { expected: 'one step per layer', received: `${k} steps per layer`, fix: "use --scheme lie for Lie splitting with k steps per layer" });
  }
  const cfg = model.config;
  const L = model.layers.length;
  const scheduleKind = options.schedule ?? 'piecewise';
  const owned: LayerOperators[] = [];
  let ops: Schedule<LayerOperators>;
  if (scheduleKind === 'linear') {
    // Operators are rebuilt at each evaluation time from interpolated parameters; the solve's per-step
    // tidy frees them.
    ops = mapSchedule(linearInterpolation(model.layers, interpolateLayers), (p, t) => layerOperators(p, cfg, Math.min(L - 1, Math.floor(t))));
  } else {
    owned.push(...model.layers.map((l, i) => layerOperators(l, cfg, i)));
    ops = piecewiseConstant(owned);
  }
  let scheme: Scheme;
  try {
    scheme = schemeForOperators(ops, cfg, name);
  } catch (error) {
    owned.forEach((o) => o.dispose());
    throw error;
  }
  const description = `${cfg.normFirst ? 'pre-LN' : 'post-LN'} ${name}, ${k} step(s) per layer, θ(t) ${scheduleKind}`;
  return { scheme, t1: L, stepsPerLayer: k, description, dispose: () => owned.forEach((o) => o.dispose()) };
}
