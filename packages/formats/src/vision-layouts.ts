/**
 * The image-model checkpoint layouts as key tables (docs/checkpoints.md, "Image models"; paper §6): torchvision's
 * `VisionTransformer`, HF ViT (`ViTModel` / `ViTForImageClassification`) and HF CvT (`CvtForImageClassification`).
 * The layers reuse the text layouts' layer rows ({@link layerEntries}), so a pre-LN layer is named once. The
 * parameter tree they fill:
 *
 * - ViT: `lift.{weight [d, C, p, p], bias [d]}` (the patch lifting, PyTorch's Conv2d layout), `classToken [1, 1, d]`,
 *   `positions [1, 1 + P, d]`, `layers.{i}.…` (as text layers), `finalNorm.{gamma, beta}`, `head.{weight [d, K], bias [K]}`.
 * - CvT: per stage s `stages.{s}.lift.{weight [C_s, C_{s−1}, k, k], bias}`, `stages.{s}.liftNorm.{gamma, beta}`,
 *   `stages.{s}.classToken [1, 1, C_s]`, `stages.{s}.layers.{i}.…` with
 *   `convolutions.{query,key,value}.{weight [C_s, 1, k, k], gamma, beta, mean, variance}` (depthwise conv, then
 *   BatchNorm in eval mode); `finalNorm`, `head`.
 */
import type { KeyTable, KeyTableEntry } from './key-table.js';
import { layerEntries, moduleKeys, type ParameterKeys } from './layouts.js';

/** The sizes a ViT layout depends on. */
export interface VitLayoutSizes {
  readonly layers: number;
  readonly dModel: number;
  readonly dFeedforward: number;
  readonly channels: number;
  readonly patch: number;
  /** The number of patches P of the checkpoint's own grid (the position table has 1 + P rows). */
  readonly patches: number;
  /** Classes of the head, when the layout may carry one. */
  readonly classes?: number;
  /** HF's `qkv_bias` (torchvision always has biases). */
  readonly qkvBias?: boolean;
}

function normEntries(keys: ParameterKeys, d: number, path: string): KeyTableEntry[] {
  return [
    { key: keys.weight, shape: [d], paths: [`${path}.gamma`] },
    { key: keys.bias, shape: [d], paths: [`${path}.beta`] },
  ];
}

function headEntries(
  keys: ParameterKeys,
  d: number,
  classes: number | undefined,
  unprefixed: boolean,
): KeyTableEntry[] {
  if (classes === undefined) return [];
  return [
    { key: keys.weight, shape: [classes, d], transpose: true, paths: ['head.weight'], optional: true, unprefixed },
    { key: keys.bias, shape: [classes], paths: ['head.bias'], optional: true, unprefixed },
  ];
}

function liftEntries(keys: ParameterKeys, out: number, inChannels: number, k: number, path: string): KeyTableEntry[] {
  return [
    { key: keys.weight, shape: [out, inChannels, k, k], paths: [`${path}.weight`] },
    { key: keys.bias, shape: [out], paths: [`${path}.bias`] },
  ];
}

/**
 * torchvision `VisionTransformer.state_dict()`: `conv_proj`, `class_token`, `encoder.pos_embedding`,
 * `encoder.layers.encoder_layer_{i}.{ln_1, self_attention.in_proj_*, self_attention.out_proj, ln_2, mlp.0, mlp.3}`,
 * `encoder.ln`, optional `heads.head`.
 */
export function torchvisionVitKeyTable(sizes: VitLayoutSizes): KeyTable {
  const d = sizes.dModel;
  const layers = Array.from({ length: sizes.layers }, (_, i) => {
    const p = `encoder.layers.encoder_layer_${i}.`;
    return layerEntries(i, sizes, {
      norm1: moduleKeys(`${p}ln_1`),
      qkv: { weight: `${p}self_attention.in_proj_weight`, bias: `${p}self_attention.in_proj_bias` },
      out: moduleKeys(`${p}self_attention.out_proj`),
      norm2: moduleKeys(`${p}ln_2`),
      up: moduleKeys(`${p}mlp.0`),
      down: moduleKeys(`${p}mlp.3`),
      linear: true,
    });
  });
  return {
    layout: 'torchvision VisionTransformer',
    entries: [
      ...liftEntries(moduleKeys('conv_proj'), d, sizes.channels, sizes.patch, 'lift'),
      { key: 'class_token', shape: [1, 1, d], paths: ['classToken'] },
      { key: 'encoder.pos_embedding', shape: [1, 1 + sizes.patches, d], paths: ['positions'] },
      ...layers.flat(),
      ...normEntries(moduleKeys('encoder.ln'), d, 'finalNorm'),
      ...headEntries(moduleKeys('heads.head'), d, sizes.classes, false),
    ],
  };
}

/**
 * HF ViT (`ViTModel`, or `ViTForImageClassification` with the `vit.` prefix): `embeddings.{cls_token,
 * position_embeddings, patch_embeddings.projection}`, `encoder.layer.{i}.{layernorm_before,
 * attention.attention.{query,key,value}, attention.output.dense, layernorm_after, intermediate.dense,
 * output.dense}`, `layernorm`, optional `classifier` (never prefixed); `pooler.*` and `embeddings.mask_token` are ignored.
 */
export function hfVitKeyTable(sizes: VitLayoutSizes): KeyTable {
  const d = sizes.dModel;
  const layers = Array.from({ length: sizes.layers }, (_, i) => {
    const p = `encoder.layer.${i}.`;
    const a = `${p}attention.attention.`;
    return layerEntries(i, sizes, {
      norm1: moduleKeys(`${p}layernorm_before`),
      qkv: [moduleKeys(`${a}query`), moduleKeys(`${a}key`), moduleKeys(`${a}value`)],
      qkvBias: sizes.qkvBias ?? true,
      out: moduleKeys(`${p}attention.output.dense`),
      norm2: moduleKeys(`${p}layernorm_after`),
      up: moduleKeys(`${p}intermediate.dense`),
      down: moduleKeys(`${p}output.dense`),
      linear: true,
    });
  });
  return {
    layout: 'HF ViT',
    entries: [
      ...liftEntries(moduleKeys('embeddings.patch_embeddings.projection'), d, sizes.channels, sizes.patch, 'lift'),
      { key: 'embeddings.cls_token', shape: [1, 1, d], paths: ['classToken'] },
      { key: 'embeddings.position_embeddings', shape: [1, 1 + sizes.patches, d], paths: ['positions'] },
      ...layers.flat(),
      ...normEntries(moduleKeys('layernorm'), d, 'finalNorm'),
      ...headEntries(moduleKeys('classifier'), d, sizes.classes, true),
    ],
    ignored: [/^pooler\./, /^embeddings\.mask_token$/],
    prefixes: ['vit.'],
  };
}

/** One CvT stage's sizes. */
export interface CvtStageSizes {
  readonly dModel: number;
  readonly dFeedforward: number;
  readonly depth: number;
  readonly inChannels: number;
  /** The convolutional token embedding's kernel size. */
  readonly patch: number;
  /** `kernel_qkv`: the depthwise Q/K/V convolutions' kernel size. */
  readonly kernelQkv: number;
  readonly classToken: boolean;
  readonly qkvBias: boolean;
}

/**
 * HF CvT (`CvtForImageClassification`): per stage `cvt.encoder.stages.{s}.embedding.convolution_embeddings.{projection,
 * normalization}`, optional `cvt.encoder.stages.{s}.cls_token`, and per layer `…layers.{i}.attention.attention.
 * {convolution_projection_{q,k,v}.convolution_projection.{convolution.weight, normalization.*}, projection_{q,k,v}}`,
 * `…attention.output.dense`, `…intermediate.dense`, `…output.dense`, `…layernorm_before`, `…layernorm_after`; then
 * `layernorm` and an optional `classifier`. BatchNorm's `num_batches_tracked` is ignored.
 */
export function hfCvtKeyTable(sizes: {
  readonly stages: readonly CvtStageSizes[];
  readonly classes?: number;
}): KeyTable {
  const entries: KeyTableEntry[] = [];
  sizes.stages.forEach((st, s) => {
    const stage = `cvt.encoder.stages.${s}.`;
    const path = `stages.${s}.`;
    const embed = `${stage}embedding.convolution_embeddings.`;
    entries.push(...liftEntries(moduleKeys(`${embed}projection`), st.dModel, st.inChannels, st.patch, `${path}lift`));
    entries.push(...normEntries(moduleKeys(`${embed}normalization`), st.dModel, `${path}liftNorm`));
    if (st.classToken)
      entries.push({ key: `${stage}cls_token`, shape: [1, 1, st.dModel], paths: [`${path}classToken`] });
    for (let i = 0; i < st.depth; i++) {
      const p = `${stage}layers.${i}.`;
      const a = `${p}attention.attention.`;
      const layerPath = `${path}layers.${i}.`;
      entries.push(
        ...layerEntries(
          i,
          st,
          {
            norm1: moduleKeys(`${p}layernorm_before`),
            qkv: [
              moduleKeys(`${a}projection_query`),
              moduleKeys(`${a}projection_key`),
              moduleKeys(`${a}projection_value`),
            ],
            qkvBias: st.qkvBias,
            out: moduleKeys(`${p}attention.output.dense`),
            norm2: moduleKeys(`${p}layernorm_after`),
            up: moduleKeys(`${p}intermediate.dense`),
            down: moduleKeys(`${p}output.dense`),
            linear: true,
          },
          layerPath,
        ),
      );
      for (const c of ['query', 'key', 'value'] as const) {
        const conv = `${a}convolution_projection_${c}.convolution_projection.`;
        const to = `${layerPath}convolutions.${c}.`;
        const n = st.dModel;
        entries.push(
          { key: `${conv}convolution.weight`, shape: [n, 1, st.kernelQkv, st.kernelQkv], paths: [`${to}weight`] },
          { key: `${conv}normalization.weight`, shape: [n], paths: [`${to}gamma`] },
          { key: `${conv}normalization.bias`, shape: [n], paths: [`${to}beta`] },
          { key: `${conv}normalization.running_mean`, shape: [n], paths: [`${to}mean`] },
          { key: `${conv}normalization.running_var`, shape: [n], paths: [`${to}variance`] },
        );
      }
    }
  });
  const last = sizes.stages[sizes.stages.length - 1]?.dModel ?? 0;
  entries.push(...normEntries(moduleKeys('layernorm'), last, 'finalNorm'));
  entries.push(...headEntries(moduleKeys('classifier'), last, sizes.classes, false));
  return { layout: 'HF CvT', entries, ignored: [/\.num_batches_tracked$/] };
}
