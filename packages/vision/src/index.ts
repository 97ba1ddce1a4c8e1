/**
 * `@tide/vision`: image Transformers as the time discretisation of the integro-differential equation on a 2-D
 * token domain Ω_x = [0, 1]² (paper §6; docs/image-models.md): patch lifting, the class token as an extra
 * quadrature point, position embeddings resampled to any patch grid, ViT layers as pre-LN solves, CvT stages with
 * convolutional token embeddings and convolutional Q/K/V maps whose keys live on a coarser grid, and the
 * classification readout; checkpoints in the torchvision ViT, HF ViT and HF CvT layouts. Runs anywhere, the
 * browser included; checkpoint folders on disk are read by `@tide/vision/node`.
 *
 * @packageDocumentation
 */
export { ImageInputError, VisionDiscretisationError } from './errors.js';
export type {
  AffineParameters,
  ConvolutionParameters,
  DepthwiseMapParameters,
  HeadParameters,
  StageConfig,
  StageParameters,
  VisionConfig,
  VisionLayerParameters,
  VisionLayout,
  VisionModel,
  VisionParameters,
} from './model.js';
export { parseVisionConfig, isVisionConfig } from './config.js';
export {
  visionKeyTable,
  visionModel,
  visionModelFromTensors,
  visionStateDict,
  visionConfigJson,
} from './checkpoint.js';
export { checkPixels, liftPatches } from './patch-lifting.js';
export { positionsOn } from './positions.js';
export { visionLayerRates, BATCH_NORM_EPSILON } from './layer-rates.js';
export type { VisionLayerRates } from './layer-rates.js';
export {
  checkVisionDiscretisation,
  describeVisionDiscretisation,
  solveLayers,
  VISION_SCHEME_NAMES,
} from './discretisation.js';
export type { VisionDiscretisationOptions, VisionSchemeName, CheckedVisionDiscretisation } from './discretisation.js';
export { visionForward, vitInitialField } from './forward.js';
export type { VisionForwardOptions, VisionForwardResult } from './forward.js';
export {
  SHAPE_CLASSES,
  SHAPE_MIN_CONTRAST,
  SHAPE_PIXEL_MEAN,
  SHAPE_PIXEL_STD,
  shapeScene,
  renderScene,
  shapesBatch,
} from './shapes.js';
export type { Rgb, ShapeClass, ShapeScene, ShapeRenderOptions, ShapesBatchOptions, ShapesBatch } from './shapes.js';
export { predictClasses, imageAttentionKernels } from './inspection.js';
export type { ImageKernel, ImageKernels } from './inspection.js';
export { stageGrids } from './stage-grids.js';
export type { StageGrid } from './stage-grids.js';
