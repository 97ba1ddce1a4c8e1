/**
 * `@tide/formats`: the file formats of TIDE (docs/checkpoints.md) — the `.safetensors` reader and writer,
 * checkpoint layouts as key tables (checkpoint key ↔ parameter-tree path) for HF GPT-2 and PyTorch
 * `nn.TransformerEncoder`, and tokenizers. Browser-safe; file-system helpers live in `@tide/formats/node`.
 *
 * @packageDocumentation
 */
export { CheckpointError } from './errors.js';
export { readSafetensors, writeSafetensors } from './safetensors.js';
export type {
  ReadSafetensorsOptions,
  SafeTensor,
  SafetensorsDtype,
  SafetensorsFile,
  TensorToWrite,
} from './safetensors.js';
export { readWithKeyTable, readParameterTree, writeWithKeyTable, keyTableShapes } from './key-table.js';
export type { KeyTable, KeyTableEntry, KeyTableRead, ReadTreeOptions } from './key-table.js';
export { gpt2KeyTable, torchEncoderKeyTable, gpt2LayerPrefix, smoothControlsPrefix } from './layouts.js';
export type { LayerPrefix, TextLayoutSizes } from './layouts.js';
export { configInteger, configNumber, configBoolean, configList } from './config-fields.js';
export type { ConfigObject } from './config-fields.js';
export { torchvisionVitKeyTable, hfVitKeyTable, hfCvtKeyTable } from './vision-layouts.js';
export type { VitLayoutSizes, CvtStageSizes } from './vision-layouts.js';
export { characterTokenizer, gpt2Tokenizer, tokenizerFor } from './tokenizer.js';
export type { Tokenizer, TokenizerSpec } from './tokenizer.js';
