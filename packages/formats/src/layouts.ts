/**
 * The text-model checkpoint layouts as key tables (docs/checkpoints.md): HF GPT-2 (Conv1D kernels stored
 * `[in, out]`, `c_attn` = Q | K | V) and PyTorch `nn.TransformerEncoder` (`Linear` stored `[out, in]`,
 * `in_proj` = Q | K | V). Both fill the same parameter tree: `layers.{i}.attention.{wq,wk,wv,wo,bq,bk,bv,bo}`,
 * `layers.{i}.norm1.{gamma,beta}`, `layers.{i}.norm2.{gamma,beta}`, `layers.{i}.feedforward.{w1,b1,w2,b2}`,
 * `finalNorm.{gamma,beta}` and, for language models, `embeddings.{tokens,positions,head}`.
 */
import type { KeyTable, KeyTableEntry } from './key-table.js';

/** The sizes a text-model layout depends on. */
export interface TextLayoutSizes {
  readonly layers: number;
  readonly dModel: number;
  readonly dFeedforward: number;
}

/**
 * The checkpoint-key prefix of the parameter set `i` of a layout, e.g. `h.3.` (GPT-2's layer 3) or
 * `tide_controls.3.` (coefficient 3 of a smooth control): the 16 tensors of a set are named the same below it.
 */
export type LayerPrefix = (i: number) => string;

/** GPT-2's layer prefix: `h.{i}.`. */
export const gpt2LayerPrefix: LayerPrefix = (i) => `h.${i}.`;

/**
 * The prefix of Legendre coefficient k of a smooth-control model (docs/checkpoints.md, "Smooth controls"):
 * `tide_controls.{k}.`, so that coefficient k of GPT-2's `h.{i}.attn.c_attn.weight` is stored as
 * `tide_controls.{k}.attn.c_attn.weight`.
 */
export const smoothControlsPrefix: LayerPrefix = (k) => `tide_controls.${k}.`;

/** The checkpoint names of a module's weight and bias. */
export interface ParameterKeys {
  readonly weight: string;
  readonly bias: string;
}

/** `name.weight` and `name.bias`: how `nn.Module`s and HF modules name their parameters. */
export const moduleKeys = (name: string): ParameterKeys => ({ weight: `${name}.weight`, bias: `${name}.bias` });

/** The checkpoint names of one layer's tensors, in the order of {@link layerEntries}. */
export interface LayerKeys {
  readonly norm1: ParameterKeys;
  /** The fused Q | K | V projection, or the three projections stored apart (HF ViT, CvT). */
  readonly qkv: ParameterKeys | readonly [ParameterKeys, ParameterKeys, ParameterKeys];
  /** Whether the Q/K/V projections have biases (default true; HF's `qkv_bias`). */
  readonly qkvBias?: boolean;
  readonly out: ParameterKeys;
  readonly norm2: ParameterKeys;
  readonly up: ParameterKeys;
  readonly down: ParameterKeys;
  /** Kernels stored as PyTorch `Linear` `[out, in]`. */
  readonly linear: boolean;
}

/**
 * The 16 parameters of a pre/post-LN layer whose keys are `keys`, filling the tree paths below `path` (default
 * `layers.{i}.`): one table for every layout, text or image.
 */
export function layerEntries(
  i: number,
  { dModel: d, dFeedforward: f }: Pick<TextLayoutSizes, 'dModel' | 'dFeedforward'>,
  k: LayerKeys,
  path = `layers.${i}.`,
): KeyTableEntry[] {
  const p = path;
  const kernel = (keys: ParameterKeys, rows: number, cols: number, paths: string[]): KeyTableEntry =>
    k.linear
      ? { key: keys.weight, shape: [cols, rows], transpose: true, paths }
      : { key: keys.weight, shape: [rows, cols], paths };
  const bias = (keys: ParameterKeys, n: number, paths: string[]): KeyTableEntry => ({
    key: keys.bias,
    shape: [n],
    paths,
  });
  const qkvEntries = (): KeyTableEntry[] => {
    const names = ['q', 'k', 'v'].map((c) => `${p}attention.w${c}`);
    const biases = ['q', 'k', 'v'].map((c) => `${p}attention.b${c}`);
    const withBias = k.qkvBias ?? true;
    if (!Array.isArray(k.qkv)) {
      const fused = k.qkv as ParameterKeys;
      return [kernel(fused, d, 3 * d, names), ...(withBias ? [bias(fused, 3 * d, biases)] : [])];
    }
    return (k.qkv as readonly ParameterKeys[]).flatMap((keys, c) => [
      kernel(keys, d, d, [names[c]!]),
      ...(withBias ? [bias(keys, d, [biases[c]!])] : []),
    ]);
  };
  const norm = (keys: ParameterKeys, which: string): KeyTableEntry[] => [
    { key: keys.weight, shape: [d], paths: [`${p}${which}.gamma`] },
    { key: keys.bias, shape: [d], paths: [`${p}${which}.beta`] },
  ];
  return [
    ...norm(k.norm1, 'norm1'),
    ...qkvEntries(),
    kernel(k.out, d, d, [`${p}attention.wo`]),
    bias(k.out, d, [`${p}attention.bo`]),
    ...norm(k.norm2, 'norm2'),
    kernel(k.up, d, f, [`${p}feedforward.w1`]),
    bias(k.up, f, [`${p}feedforward.b1`]),
    kernel(k.down, f, d, [`${p}feedforward.w2`]),
    bias(k.down, d, [`${p}feedforward.b2`]),
  ];
}

function finalNormEntries(name: string, d: number): KeyTableEntry[] {
  const keys = moduleKeys(name);
  return [
    { key: keys.weight, shape: [d], paths: ['finalNorm.gamma'] },
    { key: keys.bias, shape: [d], paths: ['finalNorm.beta'] },
  ];
}

/**
 * HF GPT-2 (`GPT2LMHeadModel` state dict): `wte`, `wpe`, `h.{i}.{ln_1, attn.c_attn, attn.c_proj, ln_2, mlp.c_fc,
 * mlp.c_proj}`, `ln_f`, and an optional untied `lm_head.weight`; an optional `transformer.` prefix (never on
 * `lm_head.weight`, as in HF's `GPT2LMHeadModel`); the
 * `attn.bias`/`attn.masked_bias` buffers are ignored.
 *
 * `layerPrefix` names the parameter sets (default {@link gpt2LayerPrefix}, `h.{i}.`); with
 * {@link smoothControlsPrefix} the `layers` sets are the Legendre coefficients of a smooth-control model, stored as
 * `tide_controls.{k}.<the GPT-2 layer key without h.{i}.>` (docs/checkpoints.md, "Smooth controls").
 */
export function gpt2KeyTable(
  sizes: TextLayoutSizes & {
    readonly vocabSize: number;
    readonly positions: number;
    readonly layerPrefix?: LayerPrefix;
  },
): KeyTable {
  const d = sizes.dModel;
  const prefix = sizes.layerPrefix ?? gpt2LayerPrefix;
  const layers = Array.from({ length: sizes.layers }, (_, i) => {
    const p = prefix(i);
    return layerEntries(i, sizes, {
      norm1: moduleKeys(`${p}ln_1`),
      qkv: moduleKeys(`${p}attn.c_attn`),
      out: moduleKeys(`${p}attn.c_proj`),
      norm2: moduleKeys(`${p}ln_2`),
      up: moduleKeys(`${p}mlp.c_fc`),
      down: moduleKeys(`${p}mlp.c_proj`),
      linear: false,
    });
  });
  return {
    layout:
      prefix === gpt2LayerPrefix
        ? 'HF GPT-2'
        : prefix === smoothControlsPrefix
          ? 'HF GPT-2 with TIDE smooth controls'
          : `HF GPT-2 (parameter sets ${prefix(0)}…)`,
    entries: [
      { key: 'wte.weight', shape: [sizes.vocabSize, d], paths: ['embeddings.tokens'] },
      { key: 'wpe.weight', shape: [sizes.positions, d], paths: ['embeddings.positions'] },
      ...layers.flat(),
      ...finalNormEntries('ln_f', d),
      {
        key: 'lm_head.weight',
        shape: [sizes.vocabSize, d],
        paths: ['embeddings.head'],
        optional: true,
        unprefixed: true,
      },
    ],
    ignored: [/^h\.\d+\.attn\.(bias|masked_bias)$/],
    prefixes: ['transformer.'],
  };
}

/**
 * PyTorch `nn.TransformerEncoder` state dict: `layers.{i}.{self_attn.in_proj_*, self_attn.out_proj.*, linear1.*,
 * linear2.*, norm1.*, norm2.*}` and, with `finalNorm`, the encoder's `norm.*`.
 */
export function torchEncoderKeyTable(sizes: TextLayoutSizes & { readonly finalNorm: boolean }): KeyTable {
  const layers = Array.from({ length: sizes.layers }, (_, i) => {
    const p = `layers.${i}.`;
    return layerEntries(i, sizes, {
      norm1: moduleKeys(`${p}norm1`),
      // nn.MultiheadAttention names its fused input projection in_proj_weight / in_proj_bias.
      qkv: { weight: `${p}self_attn.in_proj_weight`, bias: `${p}self_attn.in_proj_bias` },
      out: moduleKeys(`${p}self_attn.out_proj`),
      norm2: moduleKeys(`${p}norm2`),
      up: moduleKeys(`${p}linear1`),
      down: moduleKeys(`${p}linear2`),
      linear: true,
    });
  });
  return {
    layout: 'torch nn.TransformerEncoder',
    entries: [...layers.flat(), ...(sizes.finalNorm ? finalNormEntries('norm', sizes.dModel) : [])],
  };
}
