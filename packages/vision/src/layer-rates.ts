/**
 * The rates of one pre-LN image layer (paper §6; docs/image-models.md): `u_t = G₁(u) + G₂(u)` with
 * `G₁(u) = A(affine₁(P₁^ε u))` and `G₂(u) = FFN(affine₂(P₂^ε u))`, exact GELU — the form of ViT and CvT layers.
 *
 * - ViT: A is integral attention on the patch grid with its class point (`IntegralAttention`).
 * - CvT: A has convolutional query/key/value maps (depthwise k×k convolution, BatchNorm in eval mode; the
 *   class token, when the stage has one, skips them), keys and values on the strided, coarser grid
 *   (`MappedAttention`), and the score scale of the stage width, `d^(−1/2)`.
 */
import { IntegralAttention, MappedAttention, type AttentionMaps } from '@tide/attention';
import type { TokenMap, VectorField } from '@tide/domain';
import { convolutionalMap, feedforwardRate } from '@tide/feedforward';
import { AffineStep, LayerNormConstraint, preNormRate } from '@tide/normalization';
import type { DepthwiseMapParameters, StageConfig, VisionLayerParameters } from './model.js';

/** BatchNorm's ε in CvT's Q/K/V maps (PyTorch's default). */
export const BATCH_NORM_EPSILON = 1e-5;

/** The two rates of a layer. They own no tensors. */
export interface VisionLayerRates {
  readonly attention: VectorField;
  readonly feedforward: VectorField;
}

/** A `dw_bn` map of a CvT layer (depthwise convolution, BatchNorm in eval mode); the class token passes unconvolved. */
function depthwiseMap(
  p: DepthwiseMapParameters,
  geometry: { readonly stride: number; readonly padding: number },
  label: string,
): TokenMap {
  const norm = { mean: p.mean, variance: p.variance, weight: p.gamma, bias: p.beta, epsilon: BATCH_NORM_EPSILON };
  return convolutionalMap({ weight: p.weight, norm }, geometry, label, { leadingTokens: 'pass' });
}

/** The attention maps of a CvT layer from its convolutions. */
function cvtMaps(layer: VisionLayerParameters, stage: StageConfig, index: string): AttentionMaps {
  const c = layer.convolutions!;
  return {
    query: depthwiseMap(c.query, stage.query, `query map[${index}]`),
    key: depthwiseMap(c.key, stage.keyValue, `key map[${index}]`),
    value: depthwiseMap(c.value, stage.keyValue, `value map[${index}]`),
  };
}

/**
 * The rates of a layer: a ViT layer with `{ heads }`, a CvT layer with `{ heads, stage }` (its maps and the
 * stage-width scale). `index` names the layer in messages.
 */
export function visionLayerRates(
  layer: VisionLayerParameters,
  options: { readonly heads: number; readonly epsilon: number; readonly stage?: StageConfig },
  index = '0',
): VisionLayerRates {
  const norm = new LayerNormConstraint({ epsilon: options.epsilon }, `norm[${index}]`);
  const affine1 = new AffineStep(layer.norm1.gamma, layer.norm1.beta, `affine1[${index}]`);
  const affine2 = new AffineStep(layer.norm2.gamma, layer.norm2.beta, `affine2[${index}]`);
  const stage = options.stage;
  const attention: VectorField =
    stage === undefined
      ? new IntegralAttention(layer.attention, { heads: options.heads }, `attention[${index}]`)
      : new MappedAttention(
          layer.attention,
          cvtMaps(layer, stage, index),
          { heads: options.heads, scale: 1 / Math.sqrt(stage.dModel) },
          `attention[${index}]`,
        );
  const ffn = feedforwardRate(layer.feedforward, 'gelu-erf', `ffn[${index}]`);
  return {
    attention: preNormRate(norm, affine1, attention, `attention[${index}]`),
    feedforward: preNormRate(norm, affine2, ffn, `feedforward[${index}]`),
  };
}
