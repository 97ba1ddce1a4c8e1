/**
 * Activation sub-steps (paper §3; docs/projections.md, docs/feedforward.md).
 *
 * - ReLU is the projection onto the closed convex cone `S₂ = { u ≥ 0 }`: `P_{S₂}(u) = max(u, 0)`, the
 *   nearest point in L²(Ω_y); its normal cone term `∂I_{S₂}` appears in the continuous model and the
 *   semi-implicit step `u ← P_{S₂}(u + Δt F(u))` is exact for any Δt.
 * - GELU is not a projection (it is not idempotent): an explicit pointwise step `u ↦ u Φ(u)`, with the exact
 *   `Φ(u) = ½(1 + erf(u/√2))` or the tanh form GPT-2 calls `gelu_new`,
 *   `½(1 + tanh(√(2/π)(u + 0.044715 u³)))`.
 */
import { geluTanh, tf, describeValue } from '@tide/backend';
import { DomainError, checkField, type Field, type PointwiseStep, type Projection } from '@tide/domain';

/** The non-negative cone S₂ with its projection (ReLU). */
export class NonNegativeCone implements Projection {
  readonly kind = 'projection' as const;
  readonly label: string;

  constructor(label = 'relu') {
    this.label = label;
  }

  /** `max(u, 0)`: a new field. */
  project(u: Field, _t: number): Field {
    checkField('NonNegativeCone.project', u);
    return u.withValues(tf.relu(u.values));
  }

  /** Distance to S₂ per token in L²(Ω_y): `‖min(u, 0)‖`, `[B, N_x]`. Caller owns it. */
  distance(u: Field, _t: number): tf.Tensor2D {
    checkField('NonNegativeCone.distance', u);
    const h = tf.tensor1d(Float32Array.from(u.featureGrid.weights));
    const d = tf.tidy(() => tf.sqrt(tf.sum(tf.mul(tf.square(tf.minimum(u.values, 0)), h), -1)) as tf.Tensor2D);
    h.dispose();
    return d;
  }
}

/** ReLU as the projection onto S₂ = {u ≥ 0}. */
export function reluProjection(): NonNegativeCone {
  return new NonNegativeCone();
}

/** Which GELU: `'erf'` (exact, PyTorch's default) or `'tanh'` (GPT-2's `gelu_new`). */
export type GeluForm = 'erf' | 'tanh';

/** GELU as an explicit pointwise sub-step. */
export class GeluStep implements PointwiseStep {
  readonly kind = 'pointwise' as const;
  readonly label: string;
  readonly form: GeluForm;

  constructor(form: GeluForm = 'erf') {
    if (form !== 'erf' && form !== 'tanh') {
      throw new DomainError('geluStep: form', {
        expected: "'erf' or 'tanh'",
        received: describeValue(form),
        fix: "use 'tanh' for GPT-2's gelu_new",
      });
    }
    this.form = form;
    this.label = `gelu-${form}`;
  }

  apply(u: Field, _t: number): Field {
    checkField('GeluStep.apply', u);
    return u.withValues(gelu(u.values, this.form));
  }
}

/** GELU as a pointwise step. */
export function geluStep(form: GeluForm = 'erf'): GeluStep {
  return new GeluStep(form);
}

/** `x Φ(x)` elementwise on a tensor (differentiable). Caller owns the result. */
export function gelu<T extends tf.Tensor>(x: T, form: GeluForm = 'erf'): T {
  return tf.tidy(() => {
    if (form === 'erf') return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))) as T;
    // ½(1 + tanh v) = σ(2v), v = √(2/π)(x + 0.044715 x³): one fused kernel each way on wasm, a composite elsewhere.
    return geluTanh(x);
  });
}
