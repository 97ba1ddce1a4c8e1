/**
 * A loaded Transformer, in TIDE's own terms: per-layer controls θ_i (attention kernels, the two
 * normalisation sub-steps, the two feature kernels), the embeddings and the readout. Kernels act on the
 * right (`u W`, shapes `[in, out]`) whatever layout the checkpoint used.
 */
import { tf } from '@tide/backend';
import type { AttentionParameters } from '@tide/attention';

/** How the layer's FFN activates: ReLU (a projection), exact GELU, or GPT-2's tanh GELU. */
export type Activation = 'relu' | 'gelu' | 'gelu_new';

/** The controls θ_i of one layer (one unit of time). */
export interface LayerParameters {
  readonly attention: AttentionParameters;
  /** LayerNorm 1 (after attention in post-LN; before it in pre-LN): γ, β `[d]`. */
  readonly norm1: { readonly gamma: tf.Tensor1D; readonly beta: tf.Tensor1D };
  readonly norm2: { readonly gamma: tf.Tensor1D; readonly beta: tf.Tensor1D };
  /** Standard FFN kernels: `w1 [d, d_ff]`, `b1 [d_ff]`, `w2 [d_ff, d]`, `b2 [d]`. */
  readonly w1: tf.Tensor2D;
  readonly b1: tf.Tensor1D;
  readonly w2: tf.Tensor2D;
  readonly b2: tf.Tensor1D;
}

/** The architecture read from a config. */
export interface ModelConfig {
  readonly family: 'encoder' | 'gpt2';
  readonly dModel: number;
  readonly heads: number;
  readonly dFeedforward: number;
  readonly layers: number;
  readonly activation: Activation;
  /** Pre-LN (`norm_first`, GPT-2) or post-LN. */
  readonly normFirst: boolean;
  readonly epsilon: number;
  readonly causal: boolean;
  readonly finalNorm: boolean;
  /** The tokenizer the checkpoint declares: GPT-2 BPE, or a character alphabet (id = index). */
  readonly tokenizer?: { readonly type: 'gpt2' } | { readonly type: 'chars'; readonly alphabet: string };
  /** GPT-2 only. */
  readonly vocabSize?: number;
  readonly positions?: number;
}

/** A loaded model. It owns its tensors: {@link TransformerModel.dispose} frees them. */
export interface TransformerModel {
  readonly config: ModelConfig;
  readonly layers: readonly LayerParameters[];
  readonly finalNorm?: { readonly gamma: tf.Tensor1D; readonly beta: tf.Tensor1D };
  /** GPT-2: token embedding `[V, d]` (also the tied LM head), positions `[P, d]`, an untied head `[V, d]`. */
  readonly embeddings?: { readonly tokens: tf.Tensor2D; readonly positions: tf.Tensor2D; readonly head?: tf.Tensor2D };
  /** Where it came from, for messages. */
  readonly source: string;
  dispose(): void;
}

/** Every tensor of a model (for disposal and inspection). */
export function modelTensors(model: Omit<TransformerModel, 'dispose' | 'source'>): tf.Tensor[] {
  const out: tf.Tensor[] = [];
  for (const l of model.layers) {
    out.push(...(Object.values(l.attention).filter((t) => t !== undefined) as tf.Tensor[]));
    out.push(l.norm1.gamma, l.norm1.beta, l.norm2.gamma, l.norm2.beta, l.w1, l.b1, l.w2, l.b2);
  }
  if (model.finalNorm) out.push(model.finalNorm.gamma, model.finalNorm.beta);
  if (model.embeddings) out.push(model.embeddings.tokens, model.embeddings.positions, ...(model.embeddings.head ? [model.embeddings.head] : []));
  return out;
}
