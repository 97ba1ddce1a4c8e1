/**
 * The operators of one layer (one unit of time), built from its controls θ_i (paper §3–§4;
 * docs/splitting-and-recovery.md). Only what the model's form uses is built:
 *
 * - post-LN ({@link postLnOperators}): attention `A`, the projections `P₁^ε`, `P₂^{ε/4}` with their affine
 *   sub-steps, and the FFN as two feature increments on a lifted hidden domain (`W₁ = W₁^std − E`,
 *   `W₂ = W₂^std − R`; docs/feedforward.md).
 * - pre-LN ({@link preLnRates}): the rates `G₁(u) = A(affine₁(P₁^ε u))` and `G₂(u) = FFN(affine₂(P₂^ε u))` with
 *   `FFN(v) = act(v W₁^std + b₁) W₂^std + b₂` (`preNormRate` of `@tide/normalization` around `feedforwardRate` of
 *   `@tide/feedforward`): a plain ODE `u_t = G₁(u) + G₂(u)` with a smooth right-hand side.
 *
 * Derived tensors (the increments) are created here and freed by `dispose`; the layer's own parameters are
 * not owned.
 */
import { tf } from '@tide/backend';
import { IntegralAttention, type KeyValueCache } from '@tide/attention';
import type { PointwiseStep, Projection, VectorField } from '@tide/domain';
import {
  FeatureIncrement,
  feedforwardRate,
  geluStep,
  reluProjection,
  toIncrement,
  type FeedforwardActivation,
} from '@tide/feedforward';
import { AffineStep, LayerNormConstraint, preNormRate } from '@tide/normalization';
import type { Activation, LayerParameters, ModelConfig } from './model.js';

/** The checkpoint's activation name as the feed-forward rate's: ReLU, exact GELU, or GPT-2's tanh GELU. */
export function feedforwardActivation(activation: Activation): FeedforwardActivation {
  return activation === 'relu' ? 'relu' : activation === 'gelu' ? 'gelu-erf' : 'gelu-tanh';
}

function attentionOf(
  layer: LayerParameters,
  cfg: ModelConfig,
  index: number,
  cache: KeyValueCache | undefined,
): IntegralAttention {
  return new IntegralAttention(
    layer.attention,
    { heads: cfg.heads, causal: cfg.causal, ...(cache !== undefined && { cache }) },
    `attention[${index}]`,
  );
}

/** The two rates of a pre-LN layer. */
export interface PreLnRates {
  readonly attention: VectorField;
  readonly feedforward: VectorField;
  dispose(): void;
}

/**
 * The rates `G₁`, `G₂` of a pre-LN layer (GPT-2, `norm_first`). They own no tensors. With a key/value `cache`
 * (causal models) the attention evaluates incrementally, one cache slot per evaluation (`@tide/attention`).
 */
export function preLnRates(layer: LayerParameters, cfg: ModelConfig, index = 0, cache?: KeyValueCache): PreLnRates {
  const attention = attentionOf(layer, cfg, index, cache);
  const norm = new LayerNormConstraint({ epsilon: cfg.epsilon }, `norm[${index}]`);
  const affine1 = new AffineStep(layer.norm1.gamma, layer.norm1.beta, `affine1[${index}]`);
  const affine2 = new AffineStep(layer.norm2.gamma, layer.norm2.beta, `affine2[${index}]`);
  const ffn = feedforwardRate(layer.feedforward, feedforwardActivation(cfg.activation), `ffn[${index}]`);
  return {
    attention: preNormRate(norm, affine1, attention, `attention[${index}]`),
    feedforward: preNormRate(norm, affine2, ffn, `feedforward[${index}]`),
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

/**
 * The operators of a post-LN layer; `dispose` frees the two increments it derives. With a key/value `cache`
 * (causal models) the attention evaluates incrementally, as in {@link preLnRates}.
 */
export function postLnOperators(
  layer: LayerParameters,
  cfg: ModelConfig,
  index = 0,
  cache?: KeyValueCache,
): PostLnOperators {
  const { w1, b1, w2, b2 } = layer.feedforward;
  const [inc1, inc2] = tf.tidy(() => [toIncrement(w1), toIncrement(w2)]); // [d, d_ff], [d_ff, d]
  return {
    attention: attentionOf(layer, cfg, index, cache),
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
