/**
 * Image-model checkpoints (docs/checkpoints.md, "Image models"): the layout's key table from the config, the
 * parameter tree read strictly from safetensors tensors (every tensor used, every shape checked), and the way
 * back (state dict and config.json) for models TIDE trains.
 */
import { disposeTree, flattenTree, formatShape, tf, unflattenTree } from '@tide/backend';
import {
  CheckpointError,
  hfCvtKeyTable,
  hfVitKeyTable,
  keyTableShapes,
  readParameterTree,
  torchvisionVitKeyTable,
  writeWithKeyTable,
  type KeyTable,
  type ReadTreeOptions,
  type SafeTensor,
  type TensorToWrite,
} from '@tide/formats';
import type { VisionConfig, VisionModel, VisionParameters } from './model.js';

/** The key table of a config's layout. */
export function visionKeyTable(cfg: VisionConfig): KeyTable {
  if (cfg.layout === 'hf-cvt') {
    return hfCvtKeyTable({
      stages: cfg.stages!.map((s) => ({
        dModel: s.dModel,
        dFeedforward: s.dFeedforward,
        depth: s.depth,
        inChannels: s.inChannels,
        patch: s.patch.kernel,
        kernelQkv: s.kernelQkv,
        classToken: s.classToken,
        qkvBias: s.qkvBias,
      })),
      ...(cfg.classes !== undefined && { classes: cfg.classes }),
    });
  }
  const v = cfg.vit!;
  const [h, w] = cfg.imageSize!;
  const sizes = {
    layers: v.numLayers,
    dModel: v.dModel,
    dFeedforward: v.dFeedforward,
    channels: cfg.channels,
    patch: v.patch,
    patches: (h / v.patch) * (w / v.patch),
    qkvBias: v.qkvBias,
    ...(cfg.classes !== undefined && { classes: cfg.classes }),
  };
  return cfg.layout === 'hf-vit' ? hfVitKeyTable(sizes) : torchvisionVitKeyTable(sizes);
}

/**
 * Builds a model from a parsed config and safetensors tensors (no file system). A tensor the layout does not use
 * is an error unless `options.allowUnusedTensors`.
 *
 * @throws CheckpointError for a missing or misshapen tensor, non-finite weights, or unused tensors
 */
export function visionModelFromTensors(
  cfg: VisionConfig,
  tensors: ReadonlyMap<string, SafeTensor>,
  source = 'model.safetensors',
  options: ReadTreeOptions = {},
): VisionModel {
  const leaves = readParameterTree(tensors, visionKeyTable(cfg), source, options);
  try {
    return visionModel(cfg, unflattenTree<VisionParameters>(leaves), source);
  } catch (error) {
    for (const t of leaves.values()) t.dispose();
    throw error;
  }
}

/** The checkpoint tensors of a model in its config's layout (what {@link visionModelFromTensors} reads back). */
export function visionStateDict(model: VisionModel): Record<string, TensorToWrite> {
  return writeWithKeyTable(flattenTree(model.parameters), visionKeyTable(model.config));
}

/**
 * The config.json of a ViT in the torchvision layout (the layout TIDE writes), plus `extra` (e.g. `tide`). CvTs
 * and HF ViTs are read, not written.
 */
export function visionConfigJson(model: VisionModel, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const c = model.config;
  if (c.layout !== 'torchvision-vit')
    throw new CheckpointError(`${model.source}: layout`, {
      expected: 'a ViT in the torchvision layout (the layout TIDE writes)',
      received: c.layout,
      fix: 'HF ViT and CvT checkpoints are read, not written; build the model with layout torchvision-vit to save it',
    });
  const v = c.vit!;
  const [h, w] = c.imageSize!;
  return {
    format: 'torchvision-vit',
    image_size: h === w ? h : [h, w],
    patch_size: v.patch,
    num_layers: v.numLayers,
    num_heads: v.heads,
    hidden_dim: v.dModel,
    mlp_dim: v.dFeedforward,
    num_classes: c.classes,
    num_channels: c.channels,
    layer_norm_eps: c.epsilon,
    ...extra,
  };
}

/**
 * A model that owns `parameters` (disposing it disposes the tree). The tree is checked against the config's key
 * table: every leaf the layout needs is a tensor of its shape (the head may be absent), so a hand-built model fails
 * here, naming the path, rather than inside a solve.
 *
 * @throws CheckpointError naming the first missing or misshapen leaf
 */
export function visionModel(config: VisionConfig, parameters: VisionParameters, source: string): VisionModel {
  const leaves = flattenTree(parameters);
  const optional = new Set(
    visionKeyTable(config)
      .entries.filter((e) => e.optional)
      .flatMap((e) => e.paths),
  );
  for (const [path, shape] of keyTableShapes(visionKeyTable(config))) {
    const t = leaves.get(path);
    if (t === undefined && optional.has(path)) continue;
    if (!(t instanceof tf.Tensor) || t.shape.length !== shape.length || t.shape.some((n, i) => n !== shape[i]))
      throw new CheckpointError(`${source}: parameter "${path}"`, {
        expected: `a tensor of shape ${formatShape(shape)} (${config.layout} layout)`,
        received: t instanceof tf.Tensor ? formatShape(t.shape) : 'nothing',
        fix: 'build the tree with the shapes of keyTableShapes(visionKeyTable(config))',
      });
  }
  return { config, parameters, source, dispose: () => disposeTree(parameters) };
}
