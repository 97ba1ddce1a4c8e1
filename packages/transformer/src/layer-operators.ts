/**
 * The operators of one layer (one unit of time), built from its controls θ_i (paper §3–§4, SPEC §2).
 *
 * - post-LN pieces: attention `A`, the projections `P₁^ε`, `P₂^{ε/4}` with their affine sub-steps, and the
 *   FFN as two feature increments on a lifted hidden domain (`W₁ = W₁^std − E`, `W₂ = W₂^std − R`).
 * - pre-LN rates: `G₁(u) = A(affine₁(P₁^ε u))` and `G₂(u) = FFN(affine₂(P₂^ε u))` with
 *   `FFN(v) = act(v W₁^std + b₁) W₂^std + b₂`: a plain ODE `u_t = G₁(u) + G₂(u)` with a smooth right-hand side.
 *
 * Derived tensors (increments) are created here; {@link LayerOperators.dispose} frees them (the layer's own
 * parameters are not owned).
 */
import { tf } from '@tide/backend';
import { IntegralAttention } from '@tide/attention';
import { checkField, type Field, type PointwiseStep, type Projection, type VectorField } from '@tide/domain';
import { FeatureIncrement, featureTransform, gelu, geluStep, reluProjection, toIncrement } from '@tide/feedforward';
import { AffineStep, LayerNormConstraint } from '@tide/normalization';
import type { LayerParameters, ModelConfig } from './model.js';

/** A pre-norm rate `G(u) = inner(affine(P^ε(u)))` as a VectorField. */
export class PreNormField implements VectorField {
  readonly kind = 'vector-field' as const;
  constructor(
    readonly label: string,
    readonly projection: Projection,
    readonly affine: PointwiseStep,
    readonly inner: (v: Field, t: number) => Field,
  ) {}

  evaluate(u: Field, t: number): Field {
    checkField(`${this.label}.evaluate`, u);
    const p = this.projection.project(u, t);
    const a = this.affine.apply(p, t);
    const out = this.inner(a, t);
    p.dispose();
    a.dispose();
    return out;
  }
}

/** `act(v W₁ + b₁) W₂ + b₂` (standard kernels) on a field; one surviving tensor. */
export function feedforward(v: Field, layer: LayerParameters, activation: ModelConfig['activation']): Field {
  const hidden = featureTransform(v, layer.w1, layer.b1); // [B, N, d_ff]
  const activated = hidden.withValues(
    activation === 'relu' ? tf.relu(hidden.values) : gelu(hidden.values, activation === 'gelu' ? 'erf' : 'tanh'),
  );
  hidden.dispose();
  const out = featureTransform(activated, layer.w2, layer.b2); // [B, N, d]
  activated.dispose();
  return out;
}

/** Everything one layer contributes to a scheme. */
export interface LayerOperators {
  readonly attention: IntegralAttention;
  readonly norm1: LayerNormConstraint;
  readonly affine1: AffineStep;
  readonly norm2: LayerNormConstraint;
  /** P₂ with ε/4: the closing projection after the relaxation ½(…) (LN_{ε/4}(½z) = LN_ε(z)). */
  readonly norm2Quarter: LayerNormConstraint;
  readonly affine2: AffineStep;
  /** The FFN's first increment on the lifted hidden domain, and its activation sub-step. */
  readonly ffn1: FeatureIncrement;
  readonly activation: Projection | PointwiseStep;
  readonly ffn2: FeatureIncrement;
  /** Pre-LN rates. */
  readonly preAttention: PreNormField;
  readonly preFeedforward: PreNormField;
  dispose(): void;
}

/** Builds the operators of one layer. */
export function layerOperators(layer: LayerParameters, cfg: ModelConfig, index = 0): LayerOperators {
  const attention = new IntegralAttention(layer.attention, { heads: cfg.heads, causal: cfg.causal }, `attention[${index}]`);
  const norm1 = new LayerNormConstraint({ epsilon: cfg.epsilon }, `norm1[${index}]`);
  const norm2 = new LayerNormConstraint({ epsilon: cfg.epsilon }, `norm2[${index}]`);
  const norm2Quarter = new LayerNormConstraint({ epsilon: cfg.epsilon / 4 }, `norm2[${index}]`);
  const affine1 = new AffineStep(layer.norm1.gamma, layer.norm1.beta, `affine1[${index}]`);
  const affine2 = new AffineStep(layer.norm2.gamma, layer.norm2.beta, `affine2[${index}]`);
  const [inc1, inc2] = tf.tidy(() => [toIncrement(layer.w1), toIncrement(layer.w2)]);
  const ffn1 = new FeatureIncrement(inc1!, layer.b1, `ffn1[${index}]`);
  const ffn2 = new FeatureIncrement(inc2!, layer.b2, `ffn2[${index}]`);
  const activation = cfg.activation === 'relu' ? reluProjection() : geluStep(cfg.activation === 'gelu' ? 'erf' : 'tanh');
  const preAttention = new PreNormField(`attention[${index}]`, norm1, affine1, (v) => attention.evaluate(v, 0));
  const preFeedforward = new PreNormField(`feedforward[${index}]`, norm2, affine2, (v) => feedforward(v, layer, cfg.activation));
  return {
    attention, norm1, affine1, norm2, norm2Quarter, affine2, ffn1, activation, ffn2, preAttention, preFeedforward,
    dispose: () => tf.dispose([inc1!, inc2!]),
  };
}
