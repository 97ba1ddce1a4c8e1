/**
 * Image-model configs (docs/checkpoints.md, "Image models"): torchvision's `VisionTransformer` arguments
 * (`"format": "torchvision-vit"`), HF ViT (`"model_type": "vit"`) and HF CvT (`"model_type": "cvt"`, per-stage
 * lists with HF `CvtConfig`'s defaults). Every field is checked; a bad one is a `CheckpointError` naming the file,
 * the key, what was expected and what was found.
 */
import { describeValue } from '@tide/backend';
import {
  CheckpointError,
  configBoolean,
  configInteger,
  configList,
  configNumber,
  type ConfigObject,
} from '@tide/formats';
import type { StageConfig, VisionConfig } from './model.js';

/** Whether a parsed config.json describes an image model this package reads. */
export function isVisionConfig(raw: unknown): boolean {
  if (typeof raw !== 'object' || raw === null) return false;
  const c = raw as ConfigObject;
  return c['format'] === 'torchvision-vit' || c['model_type'] === 'vit' || c['model_type'] === 'cvt';
}

/** HF `CvtConfig`'s defaults (CvT-13), used for any per-stage list a config leaves out. */
const CVT_DEFAULTS: Readonly<Record<string, readonly unknown[]>> = {
  patch_sizes: [7, 3, 3],
  patch_stride: [4, 2, 2],
  patch_padding: [2, 1, 1],
  embed_dim: [64, 192, 384],
  num_heads: [1, 3, 6],
  depth: [1, 2, 10],
  mlp_ratio: [4.0, 4.0, 4.0],
  qkv_bias: [true, true, true],
  cls_token: [false, false, true],
  qkv_projection_method: ['dw_bn', 'dw_bn', 'dw_bn'],
  kernel_qkv: [3, 3, 3],
  padding_kv: [1, 1, 1],
  stride_kv: [2, 2, 2],
  padding_q: [1, 1, 1],
  stride_q: [1, 1, 1],
};

const positive = (v: unknown) => (Number.isInteger(v) && (v as number) >= 1 ? (v as number) : undefined);
const nonNegative = (v: unknown) => (Number.isInteger(v) && (v as number) >= 0 ? (v as number) : undefined);
const boolean = (v: unknown) => (typeof v === 'boolean' ? v : undefined);
const ratio = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined);

function classesOf(file: string, c: ConfigObject, key: string): number | undefined {
  if (c[key] !== undefined) return configInteger(file, c, key);
  const labels = c['id2label'];
  if (typeof labels === 'object' && labels !== null && !Array.isArray(labels)) {
    const n = Object.keys(labels).length;
    return n > 0 ? n : undefined;
  }
  return undefined;
}

/** `image_size` as `[H, W]`: an integer or a pair. */
function imageSizeOf(file: string, c: ConfigObject): [number, number] {
  const v = c['image_size'];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => positive(x) !== undefined)) return [v[0], v[1]];
  const n = configInteger(file, c, 'image_size');
  return [n, n];
}

function divides(file: string, key: string, whole: number, part: number, what: string): void {
  if (whole % part !== 0)
    throw new CheckpointError(`${file}: "${key}"`, {
      expected: `a multiple of ${what} (${part})`,
      received: `${whole}`,
      fix: 'fix config.json so that it matches the weights',
    });
}

function recommendedOf(file: string, c: ConfigObject): VisionConfig['recommended'] {
  const tide = c['tide'];
  if (tide === undefined) return undefined;
  if (typeof tide !== 'object' || tide === null || Array.isArray(tide))
    throw new CheckpointError(`${file}: "tide"`, {
      expected: '{ "scheme": name, "stepsPerLayer": k }',
      received: describeValue(tide),
      fix: 'remove the field or record the scheme the model was trained with',
    });
  const t = tide as ConfigObject;
  if (t['scheme'] === undefined) return undefined;
  if (typeof t['scheme'] !== 'string')
    throw new CheckpointError(`${file}: "tide": "scheme"`, {
      expected: 'a scheme name',
      received: describeValue(t['scheme']),
      fix: 'record the scheme the model was trained with, or remove the field',
    });
  return { scheme: t['scheme'], stepsPerLayer: configInteger(`${file}: "tide"`, t, 'stepsPerLayer', 1) };
}

function vitConfig(file: string, c: ConfigObject, hf: boolean): VisionConfig {
  const key = (tv: string, h: string) => (hf ? h : tv);
  const dModel = configInteger(file, c, key('hidden_dim', 'hidden_size'));
  const heads = configInteger(file, c, key('num_heads', 'num_attention_heads'));
  divides(file, key('hidden_dim', 'hidden_size'), dModel, heads, 'the number of heads');
  const patch = configInteger(file, c, 'patch_size');
  const imageSize = imageSizeOf(file, c);
  divides(file, 'image_size', imageSize[0], patch, 'patch_size');
  divides(file, 'image_size', imageSize[1], patch, 'patch_size');
  if (hf && (c['hidden_act'] ?? 'gelu') !== 'gelu')
    throw new CheckpointError(`${file}: "hidden_act"`, {
      expected: '"gelu" (exact GELU)',
      received: describeValue(c['hidden_act']),
      fix: 'only the exact GELU of HF ViT is supported',
    });
  const classes = hf ? classesOf(file, c, 'num_labels') : configInteger(file, c, 'num_classes', 1000);
  const recommended = recommendedOf(file, c);
  return {
    layout: hf ? 'hf-vit' : 'torchvision-vit',
    channels: configInteger(file, c, 'num_channels', 3),
    imageSize,
    epsilon: configNumber(file, c, 'layer_norm_eps', hf ? 1e-12 : 1e-6),
    ...(classes !== undefined && { classes }),
    ...(recommended !== undefined && { recommended }),
    vit: {
      dModel,
      heads,
      dFeedforward: configInteger(file, c, key('mlp_dim', 'intermediate_size')),
      numLayers: configInteger(file, c, key('num_layers', 'num_hidden_layers')),
      patch,
      qkvBias: hf ? configBoolean(file, c, 'qkv_bias', true) : true,
    },
  };
}

function cvtConfig(file: string, c: ConfigObject): VisionConfig {
  const raw = (k: string) => ({ [k]: c[k] ?? CVT_DEFAULTS[k] });
  const dims = configList(
    file,
    raw('embed_dim'),
    'embed_dim',
    (c['embed_dim'] as unknown[] | undefined)?.length ?? 3,
    'positive integers',
    positive,
  );
  const s = dims.length;
  if (s === 0)
    throw new CheckpointError(`${file}: "embed_dim"`, {
      expected: 'at least one stage (a list of stage widths)',
      received: '[]',
      fix: 'give every stage its width, e.g. [64, 192, 384]',
    });
  const list = <T>(k: string, what: string, check: (v: unknown) => T | undefined) =>
    configList(file, raw(k), k, s, what, check);
  const heads = list('num_heads', 'positive integers', positive);
  const depth = list('depth', 'positive integers', positive);
  const kernels = list('patch_sizes', 'positive integers', positive);
  const strides = list('patch_stride', 'positive integers', positive);
  const paddings = list('patch_padding', 'integers ≥ 0', nonNegative);
  const mlp = list('mlp_ratio', 'positive numbers', ratio);
  const qkvBias = list('qkv_bias', 'booleans', boolean);
  const cls = list('cls_token', 'booleans', boolean);
  list('qkv_projection_method', '"dw_bn" (depthwise convolution + BatchNorm)', (v) => (v === 'dw_bn' ? v : undefined));
  const kernelQkv = list('kernel_qkv', 'positive integers', positive);
  const [padQ, strideQ, padKv, strideKv] = [
    list('padding_q', 'integers ≥ 0', nonNegative),
    list('stride_q', '1 (queries stay on the token grid)', (v) => (v === 1 ? 1 : undefined)),
    list('padding_kv', 'integers ≥ 0', nonNegative),
    list('stride_kv', 'positive integers', positive),
  ];
  cls.forEach((has, i) => {
    if (has && i !== s - 1)
      throw new CheckpointError(`${file}: "cls_token"`, {
        expected: 'a class token in the last stage only (HF CvT sizes it by the last embed_dim)',
        received: `a class token in stage ${i} of ${s}`,
        fix: 'set cls_token to false for every stage but the last',
      });
  });
  const stages: StageConfig[] = dims.map((d, i) => {
    divides(file, 'embed_dim', d, heads[i]!, `num_heads[${i}]`);
    return {
      dModel: d,
      heads: heads[i]!,
      depth: depth[i]!,
      dFeedforward: Math.trunc(d * mlp[i]!),
      inChannels: i === 0 ? configInteger(file, c, 'num_channels', 3) : dims[i - 1]!,
      patch: { kernel: kernels[i]!, stride: strides[i]!, padding: paddings[i]! },
      classToken: cls[i]!,
      qkvBias: qkvBias[i]!,
      kernelQkv: kernelQkv[i]!,
      query: { stride: strideQ[i]!, padding: padQ[i]! },
      keyValue: { stride: strideKv[i]!, padding: padKv[i]! },
    };
  });
  const classes = classesOf(file, c, 'num_labels');
  const recommended = recommendedOf(file, c);
  return {
    layout: 'hf-cvt',
    channels: configInteger(file, c, 'num_channels', 3),
    epsilon: 1e-5,
    stages,
    ...(classes !== undefined && { classes }),
    ...(recommended !== undefined && { recommended }),
  };
}

/** Parses an image model's config.json (`file` names it in errors). */
export function parseVisionConfig(raw: unknown, file = 'config.json'): VisionConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || !isVisionConfig(raw))
    throw new CheckpointError(file, {
      expected: 'an image model config: "format": "torchvision-vit", or "model_type": "vit" or "cvt"',
      received: typeof raw === 'object' && raw !== null ? 'another kind of config' : describeValue(raw),
      fix: 'point at a torchvision ViT, HF ViT or HF CvT checkpoint folder',
    });
  const c = raw as ConfigObject;
  if (c['format'] === 'torchvision-vit') return vitConfig(file, c, false);
  return c['model_type'] === 'vit' ? vitConfig(file, c, true) : cvtConfig(file, c);
}
