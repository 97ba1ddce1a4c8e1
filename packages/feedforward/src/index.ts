/**
 * `@tide/feedforward`: feature-integral transforms on (possibly lifted) feature domains, the increment form
 * `W^std = J + W` of the paper, and activation sub-steps — ReLU as the projection onto S₂ = {u ≥ 0}, GELU as
 * an explicit pointwise step (paper §3; docs/feedforward.md).
 *
 * @packageDocumentation
 */
export {
  featureTransform,
  toIncrement,
  fromIncrement,
  fromTorchLinear,
  FeatureIncrement,
} from './feature-transform.js';
export { embeddingMatrix, embedFeatures } from './lift.js';
export { NonNegativeCone, reluProjection, GeluStep, geluStep, gelu } from './activations.js';
export type { GeluForm } from './activations.js';
export { FeedforwardRate, feedforwardRate, fromTorchFeedforward } from './feedforward-rate.js';
export type { FeedforwardActivation, FeedforwardParameters, TorchFeedforward } from './feedforward-rate.js';
export { imageField, convolution, depthwiseConvolution } from './convolution.js';
export type { ConvolutionGeometry } from './convolution.js';
export { batchNormAffine } from './batch-norm.js';
export type { BatchNormParameters } from './batch-norm.js';
export { convolutionalMap } from './convolutional-map.js';
export type { TokenMap, ConvolutionalMapParameters, ConvolutionalMapOptions } from './convolutional-map.js';
