/**
 * `@tide/transformer`: the integration — presets that wire attention, feedforward and normalisation into
 * splitting schemes, checkpoint import (PyTorch `nn.TransformerEncoder`, HF GPT-2) from `.safetensors`, the
 * forward map, the plain reference layer stack, and the `tide` CLI (paper §4; SPEC §2–§4).
 *
 * @packageDocumentation
 */
// Everything that runs anywhere (browser included): see ./core.ts.
export * from './core.js';
export { parseConfig, loadCheckpoint, modelFromTensors } from './checkpoint.js';
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
