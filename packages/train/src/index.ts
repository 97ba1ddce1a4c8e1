/**
 * `@tide/train`: training as optimal control (paper §2; docs/continuous-depth.md) — choose the controls θ(t)
 * that minimise the loss of u(T) subject to the equation, by gradient descent through the solver: AdamW with
 * warm-up and cosine decay, the kinetic-energy regulariser, character corpora, checkpoints in the HF GPT-2
 * layout and exact resume.
 *
 * @packageDocumentation
 */
export { TrainingError } from './errors.js';
export { ASCII_ALPHABET, characterCorpus, sampleBatch } from './corpus.js';
export type { Corpus } from './corpus.js';
export { AdamW, warmupCosine } from './adamw.js';
export type { AdamWOptions } from './adamw.js';
export { trainLanguageModel, initLanguageModel, languageModelLoss, asVariables } from './train.js';
export type { Architecture, TrainableModel, TrainOptions, TrainProgress, TrainResult } from './train.js';
