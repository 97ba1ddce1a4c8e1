/**
 * Autoregressive generation: repeatedly solve the model over its depth on the current sequence and append a
 * token chosen from the last position's logits — greedily (temperature 0) or sampled with temperature and
 * top-k from a seeded generator (reproducible).
 *
 * By default the solve is incremental (docs/integral-attention.md, "Incremental causal solves"): a key/value
 * cache holds the keys and values of every attention evaluation for the tokens already solved, so each new
 * token is one causal solve of one token — O(N) per token instead of re-solving the whole window, O(N²).
 */
import { tf, describeValue, seededRandom } from '@tide/backend';
import { KeyValueCache } from '@tide/attention';
import {
  ADAPTIVE_SCHEMES,
  checkControlsOptions,
  checkDiscretisationOptions,
  type DiscretisationOptions,
} from './discretisation.js';
import { InputError } from './errors.js';
import type { ForwardBudget } from './budget.js';
import { forward, type ForwardOptions } from './forward.js';
import { isLanguageModel, type TransformerModel } from './model.js';
import { checkTokenGridOption, type TokenGridOption } from './token-grid.js';

/** Options of {@link generate}. */
export interface GenerateOptions extends DiscretisationOptions {
  /** How many tokens to append (default 32). */
  readonly maxNewTokens?: number;
  /** 0 (default) for greedy decoding. */
  readonly temperature?: number;
  /** Sample among the k most likely tokens (default: all). */
  readonly topK?: number;
  /** Seed of the sampler (default 0). */
  readonly seed?: number;
  /** Memory and work limits of each forward solve (see `forward`). */
  readonly budget?: ForwardBudget;
  /**
   * The token quadrature of each forward solve (see `forward`; docs/domains-and-quadrature.md); default: the
   * tokens themselves. On a resampled grid the logits of the last token come from interpolation.
   */
  readonly tokenGrid?: TokenGridOption;
  /**
   * Solve incrementally with a key/value cache (default `true`): the same tokens as re-solving the window for
   * every token, at O(N) instead of O(N²) attention work per token. It applies to causal models on the default
   * token grid; with another `tokenGrid` (a resampled grid is not causal) generation re-solves the window for
   * every token. Once the sequence is longer than n_positions, every new token shifts the window's positions:
   * the cache is then rebuilt from the window at each token (a full window solve, as without the cache).
   * `false`: always re-solve the window.
   */
  readonly cache?: boolean;
}

/** Picks the next token from logits (greedy or sampled). */
export function pickToken(
  logits: Float32Array,
  temperature: number,
  topK: number | undefined,
  next: () => number,
): number {
  if (temperature === 0) {
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
    return best;
  }
  const order = Array.from(logits.keys()).sort((a, b) => logits[b]! - logits[a]!);
  const kept = order.slice(0, topK ?? order.length);
  const max = logits[kept[0]!]!;
  const weights = kept.map((i) => Math.exp((logits[i]! - max) / temperature));
  const total = weights.reduce((a, b) => a + b, 0);
  let r = next() * total;
  for (let j = 0; j < kept.length; j++) {
    r -= weights[j]!;
    if (r <= 0) return kept[j]!;
  }
  return kept[kept.length - 1]!;
}

/** The last row of logits `[1, n, V]` as numbers. */
function lastRow(logits: tf.Tensor3D): Float32Array {
  const n = logits.shape[1];
  const row = tf.slice(logits, [0, n - 1, 0], [1, 1, -1]); // [1, 1, V]
  try {
    return row.dataSync() as Float32Array; // outside tf.tidy, which would walk the V values it returns
  } finally {
    row.dispose();
  }
}

/** `forward` on token ids; the ids tensor and the output are freed (also when the solve throws). */
function lastLogits(model: TransformerModel, ids: readonly number[], options: ForwardOptions): Float32Array {
  const input = tf.tensor2d([ids as number[]], [1, ids.length], 'int32');
  try {
    // Only the last row is needed: on the token grid itself the readout (final norm, LM head) skips the others.
    const onTokens = options.tokenGrid === undefined || options.tokenGrid === 'tokens';
    const result = forward(model, { inputIds: input }, { ...options, ...(onTokens && { lastTokenOnly: true }) });
    try {
      return lastRow(result.output);
    } finally {
      result.output.dispose();
    }
  } finally {
    input.dispose();
  }
}

/**
 * Appends `maxNewTokens` tokens to `prompt` (ids); returns the new ids only. With the key/value cache (the
 * default) the prompt is solved once and each new token incrementally; the cache is freed at the end, also
 * when a solve throws. {@link generateTokens} yields the same tokens one at a time.
 */
export function generate(model: TransformerModel, prompt: readonly number[], options: GenerateOptions = {}): number[] {
  return [...generateTokens(model, prompt, options)];
}

/**
 * The tokens of {@link generate}, yielded one at a time as each is chosen (a page can draw the text as it grows
 * and yield to the browser between tokens). The options are checked before the first token, when the iterator is
 * created; the key/value cache is freed when the iteration ends — finished, stopped early (`break`, `return()`)
 * or failed.
 */
export function generateTokens(
  model: TransformerModel,
  prompt: readonly number[],
  options: GenerateOptions = {},
): IterableIterator<number> {
  if (!isLanguageModel(model))
    throw new InputError('generate', {
      expected: 'a language model (GPT-2 layout)',
      received: `a ${model.config.layout} model`,
      fix: 'generation needs an LM head',
    });
  const { scheme, stepsPerLayer, schedule } = checkDiscretisationOptions(options);
  checkControlsOptions(model.config, options);
  const grid = checkTokenGridOption(options.tokenGrid);
  if (options.cache !== undefined && typeof options.cache !== 'boolean')
    throw new InputError('generate: cache', {
      expected: 'true or false',
      received: describeValue(options.cache),
      fix: 'leave it out to use the key/value cache where it applies',
    });
  const count = options.maxNewTokens ?? 32;
  const temperature = options.temperature ?? 0;
  if (!Number.isInteger(count) || count < 0)
    throw new InputError('generate: tokens', {
      expected: 'an integer ≥ 0',
      received: describeValue(count),
      fix: 'pass --tokens N',
    });
  if (!(temperature >= 0) || !Number.isFinite(temperature))
    throw new InputError('generate: temperature', {
      expected: 'a finite number ≥ 0',
      received: describeValue(temperature),
      fix: '0 is greedy',
    });
  if (!Array.isArray(prompt) || prompt.length === 0)
    throw new InputError('generate: prompt', {
      expected: 'at least one token id',
      received: describeValue(prompt),
      fix: 'give a prompt',
    });
  const topK = options.topK;
  if (topK !== undefined && (!Number.isInteger(topK) || topK < 1))
    throw new InputError('generate: top-k', {
      expected: 'an integer ≥ 1',
      received: describeValue(topK),
      fix: 'pass --top-k K or leave it out',
    });
  const next = seededRandom(options.seed ?? 0);
  const P = model.config.positions!;
  const ids = [...prompt];
  const solveOptions: ForwardOptions = {
    scheme,
    stepsPerLayer,
    schedule,
    ...(options.budget !== undefined && { budget: options.budget }),
    ...(options.tokenGrid !== undefined && { tokenGrid: options.tokenGrid }),
    ...(options.tolerance !== undefined && { tolerance: options.tolerance }),
  };
  // The incremental solve needs the causal sub-domain on the token grid itself.
  const cached =
    options.cache !== false && model.config.causal && grid.rule === 'tokens' && !ADAPTIVE_SCHEMES.includes(scheme);
  return tokens();

  function* tokens(): IterableIterator<number> {
    const cache = cached ? new KeyValueCache({ label: 'generate: key/value cache' }) : undefined;
    try {
      for (let i = 0; i < count; i++) {
        let last: Float32Array;
        if (cache === undefined) {
          last = lastLogits(model, ids.slice(-P), solveOptions); // the whole window, every token
        } else {
          // Within n_positions: solve the tokens the cache does not hold yet (the prompt, then the last token).
          // Beyond: the window's positions shift with every token, so the cache is rebuilt from the window.
          if (ids.length > P) cache.clear();
          const fresh = ids.length > P ? ids.slice(-P) : ids.slice(cache.tokens);
          last = lastLogits(model, fresh, { ...solveOptions, cache });
        }
        const token = pickToken(last, temperature, options.topK, next);
        ids.push(token);
        yield token;
      }
    } finally {
      cache?.dispose();
    }
  }
}
