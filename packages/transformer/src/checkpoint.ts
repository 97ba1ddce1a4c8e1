/**
 * Checkpoint import (SPEC §4): a folder with `config.json` and `model.safetensors`, in the HF GPT-2 layout or
 * the PyTorch `nn.TransformerEncoder` layout. Read without Python; every mismatch between config and weights
 * is a {@link CheckpointError} naming the file, the key, what was expected and what was found.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { tf, describeValue } from '@tide/backend';
import { CheckpointError } from './errors.js';
import type { Activation, LayerParameters, ModelConfig, TransformerModel } from './model.js';
import { modelTensors } from './model.js';
import { readSafetensors, type SafeTensor } from './safetensors.js';

function readJson(file: string): Record<string, unknown> {
  if (!existsSync(file)) throw new CheckpointError(file, { expected: 'a config.json file', received: 'no such file', fix: 'point --model at a folder with config.json and model.safetensors' });
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CheckpointError(file, { expected: 'valid JSON', received: (e as Error).message, fix: 'repair or regenerate config.json' });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new CheckpointError(file, { expected: 'a JSON object', received: describeValue(value), fix: 'repair config.json' });
  return value as Record<string, unknown>;
}

function int(file: string, cfg: Record<string, unknown>, key: string, fallback?: number): number {
  const v = cfg[key] ?? fallback;
  if (!Number.isInteger(v) || (v as number) < 1) throw new CheckpointError(`${file}: "${key}"`, { expected: 'a positive integer', received: describeValue(v), fix: `set "${key}" in config.json` });
  return v as number;
}

function num(file: string, cfg: Record<string, unknown>, key: string, fallback: number): number {
  const v = cfg[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new CheckpointError(`${file}: "${key}"`, { expected: 'a finite number ≥ 0', received: describeValue(v), fix: `fix "${key}" in config.json` });
  return v;
}

function bool(file: string, cfg: Record<string, unknown>, key: string, fallback: boolean): boolean {
  const v = cfg[key] ?? fallback;
  if (typeof v !== 'boolean') throw new CheckpointError(`${file}: "${key}"`, { expected: 'true or false', received: describeValue(v), fix: `fix "${key}" in config.json` });
  return v;
}

/** Reads and validates a config.json (GPT-2 or torch encoder). */
export function parseConfig(raw: Record<string, unknown>, file = 'config.json'): ModelConfig {
  if (raw['model_type'] === 'gpt2') {
    const act = raw['activation_function'] ?? 'gelu_new';
    if (act !== 'gelu_new' && act !== 'gelu') throw new CheckpointError(`${file}: "activation_function"`, { expected: '"gelu_new" or "gelu"', received: describeValue(act), fix: 'only GPT-2 activations are supported' });
    const d = int(file, raw, 'n_embd');
    const heads = int(file, raw, 'n_head');
    if (d % heads !== 0) throw new CheckpointError(`${file}: "n_head"`, { expected: `a divisor of n_embd = ${d}`, received: String(heads), fix: 'fix n_head' });
    const V = int(file, raw, 'vocab_size');
    const declared = raw['tide_tokenizer'] as { type?: unknown; alphabet?: unknown } | undefined;
    let tokenizer: ModelConfig['tokenizer'];
    if (declared !== undefined) {
      if (declared?.type !== 'chars' || typeof declared.alphabet !== 'string' || [...declared.alphabet].length !== V) {
        throw new CheckpointError(`${file}: "tide_tokenizer"`, { expected: `{ "type": "chars", "alphabet": <${V} characters> }`, received: JSON.stringify(declared).slice(0, 80), fix: 'one character per token id' });
      }
      tokenizer = { type: 'chars', alphabet: declared.alphabet };
    } else if (V === 50257) {
      tokenizer = { type: 'gpt2' };
    }
    // GPT-2 is pre-LN; a post-LN model trained by TIDE records "tide": { "norm_first": false }.
    const tideMeta = (raw['tide'] ?? {}) as Record<string, unknown>;
    const normFirst = bool(`${file}: "tide"`, tideMeta, 'norm_first', true);
    return {
      family: 'gpt2', dModel: d, heads, ...(tokenizer && { tokenizer }), dFeedforward: int(file, raw, 'n_inner', 4 * d), layers: int(file, raw, 'n_layer'),
      activation: act as Activation, normFirst, epsilon: num(file, raw, 'layer_norm_epsilon', 1e-5), causal: true, finalNorm: true,
      vocabSize: V, positions: int(file, raw, 'n_positions'),
    };
  }
  if (raw['format'] === 'torch-transformer-encoder') {
    const act = raw['activation'] ?? 'relu';
    if (act !== 'relu' && act !== 'gelu') throw new CheckpointError(`${file}: "activation"`, { expected: '"relu" or "gelu"', received: describeValue(act), fix: 'nn.TransformerEncoderLayer supports relu and gelu' });
    const d = int(file, raw, 'd_model');
    const heads = int(file, raw, 'nhead');
    if (d % heads !== 0) throw new CheckpointError(`${file}: "nhead"`, { expected: `a divisor of d_model = ${d}`, received: String(heads), fix: 'fix nhead' });
    return {
      family: 'encoder', dModel: d, heads, dFeedforward: int(file, raw, 'dim_feedforward', 2048), layers: int(file, raw, 'num_layers'),
      activation: act, normFirst: bool(file, raw, 'norm_first', false), epsilon: num(file, raw, 'layer_norm_eps', 1e-5),
      causal: bool(file, raw, 'causal', false), finalNorm: bool(file, raw, 'final_norm', false),
    };
  }
  throw new CheckpointError(file, {
    expected: '"model_type": "gpt2" or "format": "torch-transformer-encoder"',
    received: `model_type ${describeValue(raw['model_type'])}, format ${describeValue(raw['format'])}`,
    fix: 'TIDE reads HF GPT-2 folders and PyTorch nn.TransformerEncoder state_dicts (see SPEC §4)',
  });
}

/** Looks up weights by key, checking shapes; collects every failure into one clear error. */
class WeightReader {
  constructor(readonly file: string, readonly tensors: ReadonlyMap<string, SafeTensor>, readonly prefix: string) {}

  get(key: string, shape: readonly number[]): SafeTensor {
    const t = this.tensors.get(this.prefix + key) ?? this.tensors.get(key);
    if (t === undefined) {
      throw new CheckpointError(`${this.file}: "${this.prefix}${key}"`, { expected: `a tensor of shape [${shape.join(', ')}]`, received: 'no such key', fix: 'the checkpoint does not match its config.json (or is not in the expected layout)' });
    }
    if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
      throw new CheckpointError(`${this.file}: "${this.prefix}${key}"`, { expected: `shape [${shape.join(', ')}] (from config.json)`, received: `[${t.shape.join(', ')}]`, fix: 'config.json and model.safetensors disagree; fix the config' });
    }
    if (t.data instanceof Float32Array) {
      for (let i = 0; i < t.data.length; i++) {
        if (!Number.isFinite(t.data[i]!)) throw new CheckpointError(`${this.file}: "${this.prefix}${key}"`, { expected: 'finite weights', received: `${t.data[i]} at index ${i}`, fix: 'the checkpoint is corrupt' });
      }
    }
    return t;
  }

  /** A 2-D weight as a TIDE kernel [in, out]; `transpose` for PyTorch Linear [out, in]. */
  kernel(key: string, shape: readonly [number, number], transpose: boolean, columns?: [number, number]): tf.Tensor2D {
    const t = this.get(key, shape);
    return tf.tidy(() => {
      let m = tf.tensor2d(t.data as Float32Array, [shape[0], shape[1]]);
      if (transpose) m = tf.transpose(m);
      if (columns) m = tf.slice(m, [0, columns[0]], [-1, columns[1] - columns[0]]);
      return m as tf.Tensor2D;
    });
  }

  vector(key: string, length: number, range?: [number, number]): tf.Tensor1D {
    const t = this.get(key, [length]);
    const data = range ? (t.data as Float32Array).subarray(range[0], range[1]) : (t.data as Float32Array);
    return tf.tensor1d(data);
  }
}

function loadEncoder(cfg: ModelConfig, w: WeightReader): Omit<TransformerModel, 'dispose' | 'source'> {
  const { dModel: d, dFeedforward: f } = cfg;
  const layers: LayerParameters[] = [];
  for (let i = 0; i < cfg.layers; i++) {
    const p = `layers.${i}.`;
    // in_proj_weight [3d, d] (Linear [out, in]): rows 0…d−1 are Q, d…2d−1 K, 2d…3d−1 V. Transposed: columns.
    layers.push({
      attention: {
        wq: w.kernel(`${p}self_attn.in_proj_weight`, [3 * d, d], true, [0, d]),
        wk: w.kernel(`${p}self_attn.in_proj_weight`, [3 * d, d], true, [d, 2 * d]),
        wv: w.kernel(`${p}self_attn.in_proj_weight`, [3 * d, d], true, [2 * d, 3 * d]),
        wo: w.kernel(`${p}self_attn.out_proj.weight`, [d, d], true),
        bq: w.vector(`${p}self_attn.in_proj_bias`, 3 * d, [0, d]),
        bk: w.vector(`${p}self_attn.in_proj_bias`, 3 * d, [d, 2 * d]),
        bv: w.vector(`${p}self_attn.in_proj_bias`, 3 * d, [2 * d, 3 * d]),
        bo: w.vector(`${p}self_attn.out_proj.bias`, d),
      },
      norm1: { gamma: w.vector(`${p}norm1.weight`, d), beta: w.vector(`${p}norm1.bias`, d) },
      norm2: { gamma: w.vector(`${p}norm2.weight`, d), beta: w.vector(`${p}norm2.bias`, d) },
      w1: w.kernel(`${p}linear1.weight`, [f, d], true),
      b1: w.vector(`${p}linear1.bias`, f),
      w2: w.kernel(`${p}linear2.weight`, [d, f], true),
      b2: w.vector(`${p}linear2.bias`, d),
    });
  }
  const finalNorm = cfg.finalNorm ? { gamma: w.vector('norm.weight', d), beta: w.vector('norm.bias', d) } : undefined;
  return { config: cfg, layers, ...(finalNorm && { finalNorm }) };
}

function loadGpt2(cfg: ModelConfig, w: WeightReader): Omit<TransformerModel, 'dispose' | 'source'> {
  const { dModel: d, dFeedforward: f } = cfg;
  const layers: LayerParameters[] = [];
  for (let i = 0; i < cfg.layers; i++) {
    const p = `h.${i}.`;
    // Conv1D stores [in, out]: c_attn.weight [d, 3d], columns Q | K | V.
    layers.push({
      attention: {
        wq: w.kernel(`${p}attn.c_attn.weight`, [d, 3 * d], false, [0, d]),
        wk: w.kernel(`${p}attn.c_attn.weight`, [d, 3 * d], false, [d, 2 * d]),
        wv: w.kernel(`${p}attn.c_attn.weight`, [d, 3 * d], false, [2 * d, 3 * d]),
        wo: w.kernel(`${p}attn.c_proj.weight`, [d, d], false),
        bq: w.vector(`${p}attn.c_attn.bias`, 3 * d, [0, d]),
        bk: w.vector(`${p}attn.c_attn.bias`, 3 * d, [d, 2 * d]),
        bv: w.vector(`${p}attn.c_attn.bias`, 3 * d, [2 * d, 3 * d]),
        bo: w.vector(`${p}attn.c_proj.bias`, d),
      },
      norm1: { gamma: w.vector(`${p}ln_1.weight`, d), beta: w.vector(`${p}ln_1.bias`, d) },
      norm2: { gamma: w.vector(`${p}ln_2.weight`, d), beta: w.vector(`${p}ln_2.bias`, d) },
      w1: w.kernel(`${p}mlp.c_fc.weight`, [d, f], false),
      b1: w.vector(`${p}mlp.c_fc.bias`, f),
      w2: w.kernel(`${p}mlp.c_proj.weight`, [f, d], false),
      b2: w.vector(`${p}mlp.c_proj.bias`, d),
    });
  }
  const V = cfg.vocabSize!;
  const P = cfg.positions!;
  const tokens = w.kernel('wte.weight', [V, d], false);
  const positions = w.kernel('wpe.weight', [P, d], false);
  const hasHead = w.tensors.has('lm_head.weight');
  const head = hasHead ? w.kernel('lm_head.weight', [V, d], false) : undefined;
  return {
    config: cfg,
    layers,
    finalNorm: { gamma: w.vector('ln_f.weight', d), beta: w.vector('ln_f.bias', d) },
    embeddings: { tokens, positions, ...(head && { head }) },
  };
}

/** Builds a model from a parsed config and safetensors tensors (no file system). */
export function modelFromTensors(cfg: ModelConfig, tensors: ReadonlyMap<string, SafeTensor>, source = 'model.safetensors'): TransformerModel {
  const prefix = cfg.family === 'gpt2' && !tensors.has('wte.weight') && tensors.has('transformer.wte.weight') ? 'transformer.' : '';
  const reader = new WeightReader(source, tensors, prefix);
  let body: Omit<TransformerModel, 'dispose' | 'source'> | undefined;
  // tf.tidy disposes every tensor built so far when a later key fails; on success it keeps the returned ones.
  const created = tf.tidy(() => {
    body = cfg.family === 'gpt2' ? loadGpt2(cfg, reader) : loadEncoder(cfg, reader);
    return modelTensors(body);
  });
  return { ...body!, source, dispose: () => tf.dispose(created) };
}

/** Loads `dir/config.json` + `dir/model.safetensors`. */
export function loadCheckpoint(dir: string): TransformerModel {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new CheckpointError(dir, { expected: 'a model folder (config.json + model.safetensors)', received: existsSync(dir) ? 'a file' : 'no such folder', fix: 'pass --model DIR' });
  }
  const configFile = join(dir, 'config.json');
  const cfg = parseConfig(readJson(configFile), configFile);
  const weightsFile = join(dir, 'model.safetensors');
  if (!existsSync(weightsFile)) throw new CheckpointError(weightsFile, { expected: 'the weights file', received: 'no such file', fix: 'the folder must hold model.safetensors' });
  const file = readSafetensors(new Uint8Array(readFileSync(weightsFile)), weightsFile);
  return modelFromTensors(cfg, file.tensors, weightsFile);
}
