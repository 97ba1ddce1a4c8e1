/**
 * Embedding onto the token grid and readout (paper §2: u(·,·,0) = f).
 *
 * GPT-2: `f(x_l, ·) = wte[id_l] + wpe[l]` on the standard token grid (tokens at l + ½, unit weights); the
 * readout is the final projection `LN_f` at t = T followed by the tied LM head `logits = h · wteᵀ` (or an
 * untied `lm_head`).
 */
import { tf, describeValue } from '@tide/backend';
import { field, type Field } from '@tide/domain';
import { CheckpointError } from './errors.js';
import type { TransformerModel } from './model.js';

/**
 * Token ids `[B, N]` → the initial field `[B, N, d]`. Checks the vocabulary and the context length.
 * `differentiable: true` looks tokens up as `oneHot(ids)·wte` (a matMul): tfjs's gradient of `gather`
 * needs the `UnsortedSegmentSum` kernel, which the wasm backend lacks.
 */
export function embedTokens(model: TransformerModel, ids: tf.Tensor2D, source = 'input_ids', options: { differentiable?: boolean } = {}): Field {
  const emb = model.embeddings;
  if (emb === undefined) throw new CheckpointError(source, { expected: 'a model with token embeddings (GPT-2)', received: `a ${model.config.family} model`, fix: 'encoders take `input` hidden states [B, N, d]' });
  if (!(ids instanceof tf.Tensor) || ids.rank !== 2 || ids.dtype !== 'int32') {
    throw new CheckpointError(source, { expected: 'int32 token ids [B, N]', received: describeValue(ids), fix: 'pass integer token ids' });
  }
  const [, n] = ids.shape;
  const V = model.config.vocabSize!;
  const P = model.config.positions!;
  if (n > P || n === 0) throw new CheckpointError(source, { expected: `1 to ${P} tokens (n_positions)`, received: `${n} tokens`, fix: 'shorten the input' });
  const data = ids.dataSync();
  for (let i = 0; i < data.length; i++) {
    if (data[i]! < 0 || data[i]! >= V) throw new CheckpointError(source, { expected: `token ids in 0…${V - 1}`, received: `${data[i]} at index ${i}`, fix: 'tokenize with the model\'s vocabulary' });
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

/** `[B, N, d]` final hidden states → logits `[B, N, V]` (tied to wte unless the checkpoint has lm_head). */
export function languageModelHead(model: TransformerModel, h: tf.Tensor3D): tf.Tensor3D {
  const emb = model.embeddings;
  if (emb === undefined) throw new CheckpointError('readout', { expected: 'a model with an LM head (GPT-2)', received: `a ${model.config.family} model`, fix: 'encoders return hidden states' });
  return tf.tidy(() => {
    const [b, n, d] = h.shape;
    return tf.reshape(tf.matMul(tf.reshape(h, [b * n, d]), emb.head ?? emb.tokens, false, true), [b, n, -1]) as tf.Tensor3D; // [B, N, V]
  });
}
