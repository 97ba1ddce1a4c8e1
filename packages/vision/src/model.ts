/**
 * A loaded image Transformer in TIDE's terms (paper §6; docs/image-models.md): the controls θ as one parameter
 * tree and the architecture. A ViT is one pre-LN solve on the patch grid of Ω_x = [0, 1]² with a class point; a
 * CvT is a sequence of stages, each a coarsening of the token grid with a lift to a wider feature domain and a
 * LayerNorm projection, then a pre-LN solve whose attention has convolutional Q/K/V maps with keys on a coarser
 * grid. Kernels act on the right (`u W`, `[in, out]`); convolution weights keep PyTorch's `[out, in, k, k]`.
 * The key tables of `@tide/formats` (`torchvisionVitKeyTable`, `hfVitKeyTable`, `hfCvtKeyTable`) map checkpoint
 * keys to the tree's paths.
 */
import type { tf } from '@tide/backend';
import type { AttentionParameters } from '@tide/attention';
import type { FeedforwardParameters } from '@tide/feedforward';

/** γ, β `[d]` of the affine map after a LayerNorm projection. */
export interface AffineParameters {
  readonly gamma: tf.Tensor1D;
  readonly beta: tf.Tensor1D;
}

/** A convolution's weight `[out, in, k, k]` (PyTorch layout) and bias `[out]`. */
export interface ConvolutionParameters {
  readonly weight: tf.Tensor4D;
  readonly bias: tf.Tensor1D;
}

/** CvT's `dw_bn` map: a depthwise kernel `[C, 1, k, k]` and BatchNorm's eval statistics and affine map `[C]`. */
export interface DepthwiseMapParameters {
  readonly weight: tf.Tensor4D;
  readonly gamma: tf.Tensor1D;
  readonly beta: tf.Tensor1D;
  readonly mean: tf.Tensor1D;
  readonly variance: tf.Tensor1D;
}

/** The controls θ_i of one pre-LN layer (one unit of time); CvT layers add their Q/K/V convolutions. */
export interface VisionLayerParameters {
  readonly norm1: AffineParameters;
  readonly attention: AttentionParameters;
  readonly norm2: AffineParameters;
  readonly feedforward: FeedforwardParameters;
  readonly convolutions?: {
    readonly query: DepthwiseMapParameters;
    readonly key: DepthwiseMapParameters;
    readonly value: DepthwiseMapParameters;
  };
}

/** A classification head `logits = z W + b`: `weight [d, K]`, `bias [K]`. */
export interface HeadParameters {
  readonly weight: tf.Tensor2D;
  readonly bias: tf.Tensor1D;
}

/** One CvT stage's controls. */
export interface StageParameters {
  readonly lift: ConvolutionParameters;
  readonly liftNorm: AffineParameters;
  readonly classToken?: tf.Tensor3D;
  readonly layers: readonly VisionLayerParameters[];
}

/** Every parameter of a ViT (`lift`, `classToken`, `positions`, `layers`) or a CvT (`stages`), and the readout. */
export interface VisionParameters {
  /** ViT: the patch lifting `[d, C, p, p]`, `[d]`. */
  readonly lift?: ConvolutionParameters;
  /** ViT: the class token `[1, 1, d]`. */
  readonly classToken?: tf.Tensor3D;
  /** ViT: the position embedding on the checkpoint's grid, class position first: `[1, 1 + P, d]`. */
  readonly positions?: tf.Tensor3D;
  readonly layers?: readonly VisionLayerParameters[];
  readonly stages?: readonly StageParameters[];
  readonly finalNorm: AffineParameters;
  readonly head?: HeadParameters;
}

/** One CvT stage's architecture (HF `CvtConfig`'s per-stage lists). */
export interface StageConfig {
  readonly dModel: number;
  readonly heads: number;
  readonly depth: number;
  readonly dFeedforward: number;
  readonly inChannels: number;
  /** The convolutional token embedding: kernel, stride, padding. */
  readonly patch: { readonly kernel: number; readonly stride: number; readonly padding: number };
  readonly classToken: boolean;
  readonly qkvBias: boolean;
  /** The depthwise Q/K/V kernels' size, and the query's and the keys'/values' stride and padding. */
  readonly kernelQkv: number;
  readonly query: { readonly stride: number; readonly padding: number };
  readonly keyValue: { readonly stride: number; readonly padding: number };
}

/** The checkpoint layouts an image model can come in. */
export type VisionLayout = 'torchvision-vit' | 'hf-vit' | 'hf-cvt';

/** The architecture read from a config. */
export interface VisionConfig {
  readonly layout: VisionLayout;
  readonly channels: number;
  /**
   * ViT: the resolution the checkpoint was trained at, `[H, W]` (its position table's grid × patch). CvT has no
   * position embedding and no native resolution (absent).
   */
  readonly imageSize?: readonly [number, number];
  /** The number of classes of the head, when the config declares one. */
  readonly classes?: number;
  /** LayerNorm's ε (ViT: the config's; CvT: 1e-5 everywhere). */
  readonly epsilon: number;
  /** ViT only. */
  readonly vit?: {
    readonly dModel: number;
    readonly heads: number;
    readonly dFeedforward: number;
    readonly numLayers: number;
    readonly patch: number;
    readonly qkvBias: boolean;
  };
  /** CvT only: the stages, in order. */
  readonly stages?: readonly StageConfig[];
  /** The discretisation the checkpoint recommends (`"tide": { "scheme", "stepsPerLayer" }`), if any. */
  readonly recommended?: { readonly scheme: string; readonly stepsPerLayer: number };
}

/** A loaded image model. It owns its tensors: {@link VisionModel.dispose} frees them. */
export interface VisionModel {
  readonly config: VisionConfig;
  readonly parameters: VisionParameters;
  /** Where it came from, for messages. */
  readonly source: string;
  dispose(): void;
}
