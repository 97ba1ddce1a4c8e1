/**
 * `@tide/transformer/core`: the part of `@tide/transformer` that runs anywhere — in a browser page on the
 * webgl backend as well as in Node. Models as the time discretisation of the integro-differential equation
 * (paper §4–§5): the layer operators, the discretisations, the forward solve, the plain layer stack (the
 * peer), generation, tokenizers and safetensors bytes. Reading and writing files (checkpoints from disk, the
 * CLI, reports, training runs) lives in the main entry `@tide/transformer`, which re-exports all of this.
 *
 * @packageDocumentation
 */
export { CheckpointError } from './errors.js';
export { readSafetensors, writeSafetensors } from './safetensors.js';
export type { SafeTensor, SafetensorsDtype, SafetensorsFile, TensorToWrite } from './safetensors.js';
export { modelTensors } from './model.js';
export type { Activation, LayerParameters, ModelConfig, TransformerModel } from './model.js';
export { layerOperators, feedforward, PreNormField } from './layer-operators.js';
export type { LayerOperators } from './layer-operators.js';
export { discretise, schemeForOperators, interpolateLayers, SCHEME_NAMES } from './presets.js';
export type { Discretisation, DiscretisationOptions, SchemeName } from './presets.js';
export { embedTokens, languageModelHead } from './embedding.js';
export { forward } from './forward.js';
export type { ForwardInput, ForwardOptions, ForwardResult } from './forward.js';
export { plainLayerStack } from './plain-layer-stack.js';
export { generate, pickToken } from './generate.js';
export type { GenerateOptions } from './generate.js';
export { characterTokenizer, gpt2Tokenizer, tokenizerFor } from './tokenizer.js';
export type { Tokenizer } from './tokenizer.js';
