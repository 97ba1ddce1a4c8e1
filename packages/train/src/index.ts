/**
 * `@tide/train`: training as optimal control (paper §2; docs/continuous-depth.md) — choose the controls θ(t)
 * that minimise the loss of u(T) subject to the equation, by gradient descent through the solver: AdamW with
 * warm-up and cosine decay, the kinetic-energy regulariser, character corpora, checkpoints in the HF GPT-2
 * layout and exact resume; and training for the continuum — smooth Legendre controls, warm starts fitted to a
 * discrete network, a scheme drawn per batch, the agreement term KL(p_fine ‖ p_coarse) and the control energy.
 *
 * @packageDocumentation
 */
export { TrainingError } from './errors.js';
export { ASCII_ALPHABET, characterCorpus, sampleBatch } from './corpus.js';
export type { Corpus } from './corpus.js';
export { AdamW, warmupCosine } from './adamw.js';
export type { AdamWOptions } from './adamw.js';
export {
  trainLanguageModel,
  initLanguageModel,
  languageModelLoss,
  asVariables,
  checkTrainOptions,
  warmStart,
} from './train.js';
export type {
  Architecture,
  CheckedTrainOptions,
  LanguageModelLoss,
  LossOptions,
  SchemeChoice,
  TrainableModel,
  TrainOptions,
  TrainProgress,
  TrainResult,
} from './train.js';
export {
  initVisionTransformer,
  imageArchitectureConfig,
  classificationLoss,
  trainImageClassifier,
} from './image-classifier.js';
export type { ImageArchitecture, ImageBatch, ImageTrainOptions, TrainableVisionModel } from './image-classifier.js';
