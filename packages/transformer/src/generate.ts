/**
 * Autoregressive generation: repeatedly solve the model over its depth on the current sequence and append a
 * token chosen from the last position's logits — greedily (temperature 0) or sampled with temperature and
 * top-k from a seeded generator (reproducible).
 */
import { tf, describeValue, seededRandom } from '@tide/backend';
import { checkDiscretisationOptions, type DiscretisationOptions } from './discretisation.js';
import { InputError } from './errors.js';
import type { ForwardBudget } from './budget.js';
import { forward } from './forward.js';
import { isLanguageModel, type TransformerModel } from './model.js';

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

/** Appends `maxNewTokens` tokens to `prompt` (ids); returns the new ids only. */
export function generate(model: TransformerModel, prompt: readonly number[], options: GenerateOptions = {}): number[] {
  if (!isLanguageModel(model))
    throw new InputError('generate', {
      expected: 'a language model (GPT-2 layout)',
      received: `a ${model.config.layout} model`,
      fix: 'generation needs an LM head',
    });
  checkDiscretisationOptions(options);
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
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const window = ids.slice(-P);
    const input = tf.tensor2d([window], [1, window.length], 'int32');
    const result = forward(model, { inputIds: input }, options);
    const last = tf.tidy(
      () => tf.slice(result.output, [0, window.length - 1, 0], [1, 1, -1]).dataSync() as Float32Array,
    );
    tf.dispose([input, result.output]);
    const token = pickToken(last, temperature, options.topK, next);
    ids.push(token);
    out.push(token);
  }
  return out;
}
