/**
 * Embedding onto the token grid (paper §2: u(·,·,0) = f; docs/domains-and-quadrature.md).
 *
 * Language models: `f(x_l, ·) = wte[id_l] + wpe[l]` on the standard token grid (tokens at l + ½, unit weights).
 * Token ids are checked here, once: rank, dtype, vocabulary and context length.
 */
import { tf, describeValue } from '@tide/backend';
import { field, type Field } from '@tide/domain';
import { InputError } from './errors.js';
import type { TransformerModel } from './model.js';

/**
 * Token ids `[B, N]` → the initial field `[B, N, d]`. Checks the vocabulary and the context length.
 * `differentiable: true` looks tokens up as `oneHot(ids)·wte` (a matMul): tfjs's gradient of `gather`
 * needs the `UnsortedSegmentSum` kernel, which the wasm backend lacks.
 */
export function embedTokens(
  model: TransformerModel,
  ids: tf.Tensor2D,
  source = 'input_ids',
  options: { differentiable?: boolean } = {},
): Field {
  const emb = model.parameters.embeddings;
  if (emb === undefined)
    throw new InputError(source, {
      expected: 'a model with token embeddings (GPT-2)',
      received: `a ${model.config.layout} model`,
      fix: 'encoders take `input` hidden states [B, N, d]',
    });
  if (!(ids instanceof tf.Tensor) || ids.rank !== 2 || ids.dtype !== 'int32') {
    throw new InputError(source, {
      expected: 'int32 token ids [B, N]',
      received: describeValue(ids),
      fix: 'pass integer token ids',
    });
  }
  const [batch, n] = ids.shape;
  if (batch === 0)
    throw new InputError(source, {
      expected: 'at least one sequence',
      received: 'an empty batch [0, N]',
      fix: 'pass token ids [B ≥ 1, N]',
    });
  const V = model.config.vocabSize!;
  const P = model.config.positions!;
  if (n > P || n === 0)
    throw new InputError(source, {
      expected: `1 to ${P} tokens (n_positions)`,
      received: `${n} tokens`,
      fix: 'shorten the input',
    });
  const data = ids.dataSync();
  for (let i = 0; i < data.length; i++) {
    if (data[i]! < 0 || data[i]! >= V)
      throw new InputError(source, {
        expected: `token ids in 0…${V - 1}`,
        received: `${data[i]} at index ${i}`,
        fix: "tokenize with the model's vocabulary",
      });
  }
  const values = tf.tidy(() => {
    const [b] = ids.shape;
    const tokens = options.differentiable
      ? tf.reshape(tf.matMul(tf.oneHot(tf.reshape(ids, [-1]), V), emb.tokens), [b, n, -1]) // [B, N, d]
      : tf.gather(emb.tokens, ids); // [B, N, d]
    return tf.add(tokens, tf.slice(emb.positions, [0, 0], [n, -1])) as tf.Tensor3D; // [B, N, d]
  });
  return field(values);
}
