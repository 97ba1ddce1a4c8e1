/**
 * `@tide/transformer`: text Transformers as the time discretisation of the integro-differential equation
 * (paper §2–§5): the model as one parameter tree, its layers' operators, discretisations (the paper's post-LN
 * splitting; pre-LN Lie, Strang, Euler, Heun, RK4), embedding and readout, the forward solve, the plain layer
 * stack (the peer), generation, and checkpoints in the HF GPT-2 and PyTorch encoder layouts; models with smooth
 * controls θ(t) in a Legendre basis (`config.controls`). Runs anywhere,
 * the browser included; checkpoint folders on disk are read and written by `@tide/transformer/node`.
 *
 * @packageDocumentation
 */
export { DiscretisationError, InputError } from './errors.js';
export { transformerModel, isLanguageModel, MAX_CONTROL_COEFFICIENTS } from './model.js';
export type {
  Activation,
  AffineParameters,
  ControlBasis,
  EmbeddingParameters,
  LayerParameters,
  ModelConfig,
  ModelParameters,
  TransformerModel,
} from './model.js';
export { parseConfig, keyTableFor, modelFromTensors, modelStateDict, modelConfigJson } from './checkpoint.js';
export type { ModelFromTensorsOptions } from './checkpoint.js';
export { preLnRates, postLnOperators, feedforwardActivation } from './layer-operators.js';
export type { PreLnRates, PostLnOperators } from './layer-operators.js';
export {
  discretise,
  schemeForLayers,
  interpolateLayers,
  checkDiscretisationOptions,
  recommendedDiscretisation,
  checkControlsOptions,
  controlSchedule,
  SCHEME_NAMES,
  ADAPTIVE_SCHEMES,
} from './discretisation.js';
export type {
  Discretisation,
  DiscretisationOptions,
  CheckedDiscretisationOptions,
  LayerScheme,
  OperatorOptions,
  SchemeName,
} from './discretisation.js';
export { embedTokens, offsetTokenGrid } from './embedding.js';
export type { EmbeddingOptions } from './embedding.js';
export { languageModelHead, modelReadout } from './readout.js';
export { forward } from './forward.js';
export {
  estimateForward,
  checkForwardBudget,
  BudgetError,
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_FLOPS,
  ATTENTION_EVALUATIONS_PER_STEP,
} from './budget.js';
// The cache `forward` and `generate` solve incrementally with (the class lives in @tide/attention).
export { KeyValueCache } from '@tide/attention';
export type { ForwardBudget, ForwardEstimate } from './budget.js';
export type { ForwardInput, ForwardOptions, ForwardResult } from './forward.js';
export {
  checkTokenGridOption,
  describeTokenGrid,
  estimateOnTokenGrid,
  solveGrid,
  tokenPositions,
  MAX_TOKEN_GRID_POINTS,
} from './token-grid.js';
export type { CheckedTokenGrid, TokenGridOption, TokenGridRule } from './token-grid.js';
export { plainLayerStack } from './plain-layer-stack.js';
export { generate, generateTokens, pickToken } from './generate.js';
export type { GenerateOptions } from './generate.js';
// Moved to @tide/formats; re-exported here for one minor version (see the changelog's migration note).
export {
  CheckpointError,
  readSafetensors,
  writeSafetensors,
  characterTokenizer,
  gpt2Tokenizer,
  tokenizerFor,
} from '@tide/formats';
export type { SafeTensor, SafetensorsDtype, SafetensorsFile, TensorToWrite, Tokenizer } from '@tide/formats';
