/**
 * The first trial step of an adaptive solve (docs/continuous-depth.md).
 *
 * With a rate G (the embedded Runge–Kutta pairs): Hairer's algorithm (Hairer, Nørsett & Wanner, Solving
 * ODEs I, §II.4, "Starting step size"), in the norm ‖v‖ = sqrt(mean (v / (atol + rtol·|u₀|))²):
 *
 *     d₀ = ‖u₀‖,  d₁ = ‖G(u₀, t₀)‖,  h₀ = 0.01·d₀/d₁  (10⁻⁶ if d₀ or d₁ < 10⁻⁵)
 *     d₂ = ‖G(u₀ + h₀ G(u₀, t₀), t₀ + h₀) − G(u₀, t₀)‖ / h₀
 *     h₁ = (0.01 / max(d₁, d₂))^(1/k)   (max(10⁻⁶, 10⁻³ h₀) if max(d₁, d₂) ≤ 10⁻¹⁵)
 *     Δt₀ = min(100 h₀, h₁, t₁ − t₀)
 *
 * (two rate evaluations; the first is reused as the first stage of the first step). Without a rate (step
 * doubling of a splitting scheme, whose sub-steps need not be rates): Δt₀ = min(1, t₁ − t₀) · rtol^(1/k),
 * the step at which a local error C·Δt^k with C ≈ 1 per unit time (one layer) meets rtol.
 */
import { tf } from '@tide/backend';
import type { Field } from '@tide/domain';
import type { StageRate } from './error-estimate.js';
import { StepContext, type SolverStatistics } from './step-context.js';

/** Hairer's starting step; returns Δt₀ and G(u₀, t₀) (a tensor the caller owns). */
export function hairerInitialStep(
  u0: Field,
  rateAt: (u: Field, t: number, context: StepContext) => StageRate,
  setting: { t0: number; span: number; k: number; rtol: number; atol: number; stats: SolverStatistics },
): { dt: number; first: StageRate } {
  const { t0, span, k, rtol, atol, stats } = setting;
  let first: StageRate | undefined;
  const norms = (values: tf.Tensor[]): number[] => {
    const out = tf.tidy(() => {
      const scale = tf.add(tf.mul(tf.abs(u0.values), rtol), atol);
      return tf.stack(values.map((v) => tf.sqrt(tf.mean(tf.square(tf.div(v, scale))))));
    });
    const read = Array.from(out.dataSync());
    out.dispose();
    return read;
  };
  const f0 = tf.tidy(() => {
    first = rateAt(u0, t0, new StepContext(stats, 0, t0, span));
    return first.values;
  });
  first = { values: f0, operators: first!.operators };
  let d0: number, d1: number, h0: number, d2: number;
  try {
    [d0, d1] = norms([u0.values, f0]) as [number, number];
    // A non-finite d₁ (a rate that overflows at u₀) falls back to 10⁻⁶: the trial steps then report it.
    h0 = Math.min(d0 >= 1e-5 && d1 >= 1e-5 && Number.isFinite(d1) ? 0.01 * (d0 / d1) : 1e-6, span);
    d2 = tf.tidy(() => {
      const u1 = u0.withValues(tf.add(u0.values, tf.mul(f0, h0)));
      const f1 = rateAt(u1, t0 + h0, new StepContext(stats, 0, t0, h0)).values;
      return norms([tf.sub(f1, f0)])[0]! / h0;
    });
  } catch (error) {
    f0.dispose();
    throw error;
  }
  const largest = Math.max(d1, d2);
  const h1 = largest <= 1e-15 || !Number.isFinite(largest) ? Math.max(1e-6, h0 * 1e-3) : (0.01 / largest) ** (1 / k);
  return { dt: Math.min(100 * h0, h1, span), first };
}

/** The rule for schemes without a rate: min(1, t₁ − t₀) · rtol^(1/k). */
export function simpleInitialStep(span: number, k: number, rtol: number): number {
  return Math.min(1, span) * rtol ** (1 / k);
}
