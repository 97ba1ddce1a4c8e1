/**
 * `@tide/transformer`: the integration — presets that wire attention, feedforward and normalisation into
 * splitting schemes, checkpoint import (PyTorch `nn.TransformerEncoder`, HF GPT-2) from `.safetensors`, the
 * forward map, the plain reference layer stack, and the `tide` CLI (paper §4; SPEC §2–§4).
 *
 * @packageDocumentation
 */
export { CheckpointError } from './errors.js';
export { readSafetensors, writeSafetensors } from './safetensors.js';
export type { SafeTensor, SafetensorsDtype, SafetensorsFile, TensorToWrite } from './safetensors.js';
export { parseConfig, loadCheckpoint, modelFromTensors } from './checkpoint.js';
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
export { runCli, describeModel, DEFAULT_MODEL_DIR } from './cli.js';
export type { CliIO } from './cli.js';
export { ASCII_ALPHABET, characterCorpus, sampleBatch, seededRandom } from './corpus.js';
export type { Corpus } from './corpus.js';
export { AdamW, warmupCosine } from './adamw.js';
export type { AdamWOptions } from './adamw.js';
export { gpt2StateDict, gpt2Config, saveGpt2Checkpoint } from './gpt2-writer.js';
export { trainLanguageModel, initLanguageModel, languageModelLoss } from './train.js';
export type { Architecture, TrainOptions, TrainProgress, TrainResult } from './train.js';
export { runMainJob } from './main-job.js';
export type { MainJobResult } from './main-job.js';
export { writeReport, reportCharts } from './report.js';
export type { ReportData } from './report.js';
