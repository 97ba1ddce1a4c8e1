// A small GPT-2-shaped model built from its key table's shapes (no files), for the browser lane's tests:
// d 16, 2 heads, 2 layers, d_ff 64, vocabulary 40, 12 positions, seeded N(0, 0.2²) weights (LayerNorm gains 1).
import { tf, unflattenTree } from '@tide/backend';
import { gpt2KeyTable, keyTableShapes } from '@tide/formats';
import { transformerModel, type ModelConfig, type ModelParameters, type TransformerModel } from './index.js';

export function pageModel(): TransformerModel {
  const config: ModelConfig = {
    layout: 'gpt2',
    dModel: 16,
    heads: 2,
    dFeedforward: 64,
    numLayers: 2,
    activation: 'gelu_new',
    normFirst: true,
    epsilon: 1e-5,
    causal: true,
    finalNorm: true,
    vocabSize: 40,
    positions: 12,
  };
  const shapes = keyTableShapes(
    gpt2KeyTable({ layers: 2, dModel: 16, dFeedforward: 64, vocabSize: 40, positions: 12 }),
  );
  shapes.delete('embeddings.head');
  let seed = 1;
  const leaves = new Map(
    [...shapes].map(
      ([path, shape]) =>
        [path, path.endsWith('gamma') ? tf.ones(shape) : tf.randomNormal(shape, 0, 0.2, 'float32', seed++)] as [
          string,
          tf.Tensor,
        ],
    ),
  );
  return transformerModel(config, unflattenTree<ModelParameters>(leaves), 'page');
}
