/**
 * A loaded text Transformer in TIDE's own terms: the controls θ as one parameter tree (per-layer attention
 * kernels, the two normalisation sub-steps, the feed-forward kernels; the embeddings and the final projection's
 * affine map), and the architecture. Kernels act on the right (`u W`, shapes `[in, out]`) whatever layout the
 * checkpoint used; the key tables of `@tide/formats` map checkpoint keys to the paths of this tree
 * (docs/checkpoints.md, docs/splitting-and-recovery.md).
 */
import { disposeTree, type tf } from '@tide/backend';
import type { AttentionParameters } from '@tide/attention';
import type { FeedforwardParameters } from '@tide/feedforward';
import type { TokenizerSpec } from '@tide/formats';
import type { SchemeName } from './discretisation.js';

/** How the layer's FFN activates: ReLU (a projection), exact GELU, or GPT-2's tanh GELU. */
export type Activation = 'relu' | 'gelu' | 'gelu_new';

/** The affine map γ·u + β that follows a LayerNorm projection: γ, β `[d]`. */
export interface AffineParameters {
  readonly gamma: tf.Tensor1D;
  readonly beta: tf.Tensor1D;
}

/** The controls θ_i of one layer (one unit of time). */
export interface LayerParameters {
  readonly attention: AttentionParameters;
  /** LayerNorm 1 (after attention in post-LN; before it in pre-LN). */
  readonly norm1: AffineParameters;
  readonly norm2: AffineParameters;
  /** The standard FFN kernels: `w1 [d, d_ff]`, `b1 [d_ff]`, `w2 [d_ff, d]`, `b2 [d]`. */
  readonly feedforward: FeedforwardParameters;
}

/** Token embedding `[V, d]` (also the tied LM head), positions `[P, d]`, an untied head `[V, d]`. */
export interface EmbeddingParameters {
  readonly tokens: tf.Tensor2D;
  readonly positions: tf.Tensor2D;
  readonly head?: tf.Tensor2D;
}

/**
 * Every parameter of a model, as one tree (paths such as `layers.0.attention.wq`).
 *
 * `layers` holds one {@link LayerParameters} set per layer for a discrete network (θ piecewise constant, layer i
 * on [i, i+1)), or — for a model with smooth controls ({@link ModelConfig.controls}) — the K Legendre coefficient
 * sets c_0, …, c_{K−1} of θ(t) = Σ_k c_k P_k(2t/T − 1) on [0, T]: then `layers[k]` is coefficient k, not a layer,
 * and `layers.length` is K, not the depth T = `config.numLayers`.
 */
export interface ModelParameters {
  readonly layers: readonly LayerParameters[];
  /** The final projection's affine map (GPT-2's `ln_f`, an encoder's `norm`). */
  readonly finalNorm?: AffineParameters;
  /** Language models only. */
  readonly embeddings?: EmbeddingParameters;
}

/** The most Legendre coefficients a smooth-control model may have (checked when a checkpoint is read). */
export const MAX_CONTROL_COEFFICIENTS = 64;

/**
 * Smooth controls (paper §2, the Transformer as a controlled ODE `u_t = G(u, θ(t))` on [0, T];
 * docs/continuous-depth.md): θ(t) = Σ_{k<K} c_k P_k(s), `s = 2t/T − 1`, P_k the Legendre polynomials, with
 * `coefficients` = K (1 … {@link MAX_CONTROL_COEFFICIENTS}). Stored in the GPT-2 layout under
 * `tide_controls.{k}.…` (docs/checkpoints.md, "Smooth controls").
 */
export interface ControlBasis {
  readonly basis: 'legendre';
  readonly coefficients: number;
}

/** The architecture read from a config. */
export interface ModelConfig {
  /**
   * The discretisation the checkpoint recommends for inference (`"tide": { "scheme", "stepsPerLayer" }` in
   * config.json: the scheme it was trained with); see `recommendedDiscretisation`.
   */
  readonly recommended?: { readonly scheme: SchemeName; readonly stepsPerLayer: number };
  /** The checkpoint layout: a PyTorch encoder (takes hidden states) or an HF GPT-2 language model (takes token ids). */
  readonly layout: 'torch-encoder' | 'gpt2';
  readonly dModel: number;
  readonly heads: number;
  readonly dFeedforward: number;
  /**
   * The depth T: the time horizon [0, T] of the solve (the number of layers of a discrete network). With smooth
   * `controls` the parameter tree's `layers` holds the K coefficient sets instead, and T stays the depth.
   */
  readonly numLayers: number;
  readonly activation: Activation;
  /** Pre-LN (`norm_first`, GPT-2) or post-LN. */
  readonly normFirst: boolean;
  readonly epsilon: number;
  readonly causal: boolean;
  readonly finalNorm: boolean;
  /** The tokenizer the checkpoint declares. */
  readonly tokenizer?: TokenizerSpec;
  /** Language models only: vocabulary size and context length. */
  readonly vocabSize?: number;
  readonly positions?: number;
  /**
   * Smooth controls θ(t) in a Legendre basis: `parameters.layers` then holds the K coefficient sets (see
   * {@link ModelParameters}). Absent for a discrete network (one parameter set per layer).
   */
  readonly controls?: ControlBasis;
}

/** A loaded model. It owns its tensors: {@link TransformerModel.dispose} frees them. */
export interface TransformerModel {
  readonly config: ModelConfig;
  readonly parameters: ModelParameters;
  /** Where it came from, for messages. */
  readonly source: string;
  dispose(): void;
}

/** A model that owns `parameters` (disposing it disposes the tree). */
export function transformerModel(config: ModelConfig, parameters: ModelParameters, source: string): TransformerModel {
  return { config, parameters, source, dispose: () => disposeTree(parameters) };
}

/** Whether the model reads token ids (it has embeddings and an LM head) rather than hidden states. */
export function isLanguageModel(model: TransformerModel): boolean {
  return model.parameters.embeddings !== undefined;
}
