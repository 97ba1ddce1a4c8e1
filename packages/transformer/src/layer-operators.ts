/**
 * The operators of one layer (one unit of time), built from its controls θ_i (paper §3–§4;
 * docs/splitting-and-recovery.md). Only what the model's form uses is built:
 *
 * - post-LN ({@link postLnOperators}): attention `A`, the projections `P₁^ε`, `P₂^{ε/4}` with their affine
 *   sub-steps, and the FFN as two feature increments on a lifted hidden domain (`W₁ = W₁^std − E`,
 *   `W₂ = W₂^std − R`; docs/feedforward.md).
 * - pre-LN ({@link preLnRates}): the rates `G₁(u) = A(affine₁(P₁^ε u))` and `G₂(u) = FFN(affine₂(P₂^ε u))` with
 *   `FFN(v) = act(v W₁^std + b₁) W₂^std + b₂`: a plain ODE `u_t = G₁(u) + G₂(u)` with a smooth right-hand side.
 *
 * Derived tensors (the increments) are created here and freed by `dispose`; the layer's own parameters are
 * not owned.
 */
import { tf } from '@tide/backend';
import { IntegralAttention } from '@tide/attention';
import { checkField, type Field, type PointwiseStep, type Projection, type VectorField } from '@tide/domain';
import { FeatureIncrement, featureTransform, gelu, geluStep, reluProjection, toIncrement } from '@tide/feedforward';
import { AffineStep, LayerNormConstraint } from '@tide/normalization';
import type { Activation, FeedforwardParameters, LayerParameters, ModelConfig } from './model.js';

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
export function feedforward(v: Field, ffn: FeedforwardParameters, activation: Activation): Field {
  const hidden = featureTransform(v, ffn.w1, ffn.b1); // [B, N, d_ff]
  const activated = hidden.withValues(activation === 'relu' ? tf.relu(hidden.values) : gelu(hidden.values, activation === 'gelu' ? 'erf' : 'tanh')); // [B, N, d_ff]
  hidden.dispose();
  const out = featureTransform(activated, ffn.w2, ffn.b2); // [B, N, d]
  activated.dispose();
  return out;
}

function attentionOf(layer: LayerParameters, cfg: ModelConfig, index: number): IntegralAttention {
  return new IntegralAttention(layer.attention, { heads: cfg.heads, causal: cfg.causal }, `attention[${index}]`);
}

/** The two rates of a pre-LN layer. */
export interface PreLnRates {
  readonly attention: VectorField;
  readonly feedforward: VectorField;
  dispose(): void;
}

/** The rates `G₁`, `G₂` of a pre-LN layer (GPT-2, `norm_first`). They own no tensors. */
export function preLnRates(layer: LayerParameters, cfg: ModelConfig, index = 0): PreLnRates {
  const attention = attentionOf(layer, cfg, index);
  const norm = new LayerNormConstraint({ epsilon: cfg.epsilon }, `norm[${index}]`);
  const affine1 = new AffineStep(layer.norm1.gamma, layer.norm1.beta, `affine1[${index}]`);
  const affine2 = new AffineStep(layer.norm2.gamma, layer.norm2.beta, `affine2[${index}]`);
  return {
    attention: new PreNormField(`attention[${index}]`, norm, affine1, (v) => attention.evaluate(v, 0)),
    feedforward: new PreNormField(`feedforward[${index}]`, norm, affine2, (v) => feedforward(v, layer.feedforward, cfg.activation)),
    dispose: () => undefined,
  };
}

/** The sub-step operators of a post-LN layer (the recovery theorem, paper §4.1). */
export interface PostLnOperators {
  readonly attention: IntegralAttention;
  readonly norm1: LayerNormConstraint;
  readonly affine1: AffineStep;
  /** The FFN's first increment on the lifted hidden domain, and its activation sub-step. */
  readonly ffn1: FeatureIncrement;
  readonly activation: Projection | PointwiseStep;
  readonly ffn2: FeatureIncrement;
  /** P₂ with ε/4: the closing projection after the relaxation ½(…) (LN_{ε/4}(½z) = LN_ε(z)). */
  readonly norm2Quarter: LayerNormConstraint;
  readonly affine2: AffineStep;
  dispose(): void;
}

/** The operators of a post-LN layer; `dispose` frees the two increments it derives. */
export function postLnOperators(layer: LayerParameters, cfg: ModelConfig, index = 0): PostLnOperators {
  const { w1, b1, w2, b2 } = layer.feedforward;
  const [inc1, inc2] = tf.tidy(() => [toIncrement(w1), toIncrement(w2)]); // [d, d_ff], [d_ff, d]
  return {
    attention: attentionOf(layer, cfg, index),
    norm1: new LayerNormConstraint({ epsilon: cfg.epsilon }, `norm1[${index}]`),
    affine1: new AffineStep(layer.norm1.gamma, layer.norm1.beta, `affine1[${index}]`),
    ffn1: new FeatureIncrement(inc1!, b1, `ffn1[${index}]`),
    activation: cfg.activation === 'relu' ? reluProjection() : geluStep(cfg.activation === 'gelu' ? 'erf' : 'tanh'),
    ffn2: new FeatureIncrement(inc2!, b2, `ffn2[${index}]`),
    norm2Quarter: new LayerNormConstraint({ epsilon: cfg.epsilon / 4 }, `norm2[${index}]`),
    affine2: new AffineStep(layer.norm2.gamma, layer.norm2.beta, `affine2[${index}]`),
    dispose: () => tf.dispose([inc1!, inc2!]),
  };
}
