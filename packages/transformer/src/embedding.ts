/**
 * Embedding onto the token grid (paper §2: u(·,·,0) = f; docs/domains-and-quadrature.md).
 *
 * Language models: `f(x_l, ·) = wte[id_l] + wpe[l]` on the standard token grid (tokens at l + ½, unit weights).
 * With a position offset p (tokens appended after p earlier ones, e.g. for a key/value cache) the tokens sit
 * at p + l + ½ on the same grid continued, with `wpe[p + l]`. Token ids are checked here, once: rank, dtype,
 * vocabulary and context length.
 */
import { tf, describeValue } from '@tide/backend';
import { field, interval, midpointRule, type Field, type Grid } from '@tide/domain';
import { InputError } from './errors.js';
import type { TransformerModel } from './model.js';

/** Options of {@link embedTokens}. */
export interface EmbeddingOptions {
  /** Look tokens up as `oneHot(ids)·wte` (a matMul), differentiably. */
  readonly differentiable?: boolean;
  /** The position of the first token (default 0): positions p … p + N − 1, grid points p + l + ½. */
  readonly positionOffset?: number;
}

/** The token grid of N tokens after `offset` earlier ones: midpoints of [offset, offset + N], unit weights. */
export function offsetTokenGrid(offset: number, n: number): Grid {
  return midpointRule(interval(offset, offset + n), n);
}

/**
 * Token ids `[B, N]` → the initial field `[B, N, d]`. Checks the vocabulary and the context length
 * (`positionOffset + N ≤ n_positions`). `differentiable: true` looks tokens up as `oneHot(ids)·wte` (a matMul):
 * tfjs's gradient of `gather` needs the `UnsortedSegmentSum` kernel, which the wasm backend lacks.
 */
export function embedTokens(
  model: TransformerModel,
  ids: tf.Tensor2D,
  source = 'input_ids',
  options: EmbeddingOptions = {},
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
  const offset = options.positionOffset ?? 0;
  if (!Number.isInteger(offset) || offset < 0 || offset >= P)
    throw new InputError(`${source}: position offset`, {
      expected: `an integer from 0 to ${P - 1} (n_positions = ${P})`,
      received: describeValue(offset),
      fix: 'pass the number of tokens before the input (0 for a whole sequence)',
    });
  if (n > P - offset || n === 0)
    throw new InputError(source, {
      expected:
        offset === 0
          ? `1 to ${P} tokens (n_positions)`
          : `1 to ${P - offset} tokens after position ${offset} (n_positions = ${P})`,
      received: `${n} tokens`,
      fix: offset === 0 ? 'shorten the input' : 'shorten the input, or start a new sequence (window) at position 0',
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
    return tf.add(tokens, tf.slice(emb.positions, [offset, 0], [n, -1])) as tf.Tensor3D; // [B, N, d]
  });
  return offset === 0 ? field(values) : field(values, { tokenGrid: offsetTokenGrid(offset, n) });
}
