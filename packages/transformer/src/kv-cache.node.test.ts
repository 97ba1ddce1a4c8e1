// Incremental causal solves with a key/value cache (docs/integral-attention.md, "Incremental causal solves"):
// the incremental forward's logits are the full forward's rows, generation with the cache picks the same tokens
// as re-solving the window (greedy and sampled, every scheme, past n_positions), one query row per new token,
// no leaks (also on errors), and misuse refused with typed errors. Models: the gpt2-tiny fixture and the
// embedded default model of the CLI (read from disk, hence a Node test).
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { closeness, describeEachBackend, expectClose, expectNoLeaks, thrownBy } from '@tide/backend/testing';
import { KeyValueCache } from '@tide/attention';
import { ShapeError } from '@tide/domain';
import { fixtureDir } from '@tide/fixtures';
import { ATTENTION_EVALUATIONS_PER_STEP, BudgetError, estimateForward } from './budget.js';
import type { DiscretisationOptions } from './discretisation.js';
import { DiscretisationError, InputError } from './errors.js';
import { forward } from './forward.js';
import { generate, generateTokens } from './generate.js';
import type { TransformerModel } from './model.js';
import { loadCheckpoint } from './node.js';

const DEFAULT_MODEL = fileURLToPath(new URL('../../cli/models/default', import.meta.url));

const MODELS: Record<string, () => TransformerModel> = {
  'gpt2-tiny': () => loadCheckpoint(fixtureDir('gpt2-tiny')),
  'the embedded default model': () => loadCheckpoint(DEFAULT_MODEL),
};

const SCHEMES: Record<string, DiscretisationOptions> = {
  exact: { scheme: 'exact' },
  'lie, k = 2': { scheme: 'lie', stepsPerLayer: 2 },
  strang: { scheme: 'strang' },
  'rk4, k = 2': { scheme: 'rk4', stepsPerLayer: 2 },
};

/** Deterministic token ids in 0…V−1. */
function ids(count: number, vocab: number, seed = 1): number[] {
  return Array.from({ length: count }, (_, i) => (seed * 7 + i * 13 + ((i * i) % 5)) % vocab);
}

function idTensor(list: readonly number[]): tf.Tensor2D {
  return tf.tensor2d([list as number[]], [1, list.length], 'int32');
}

/** Slots a solve of `model` takes with `options`: layers × steps per layer × attention evaluations per step. */
function slotsOf(model: TransformerModel, options: DiscretisationOptions): number {
  const scheme = options.scheme ?? 'lie';
  return model.config.numLayers * (options.stepsPerLayer ?? 1) * ATTENTION_EVALUATIONS_PER_STEP[scheme];
}

describeEachBackend('incremental forward with a key/value cache', () => {
  for (const [modelName, load] of Object.entries(MODELS)) {
    it.each(Object.entries(SCHEMES))(
      `${modelName}, %s: a prompt then single tokens give the full forward's logits to 1e-5`,
      (_name, options) => {
        const model = load();
        const V = model.config.vocabSize!;
        const N = Math.min(24, model.config.positions!);
        const sequence = ids(N, V, 3);
        const all = idTensor(sequence);
        const full = forward(model, { inputIds: all }, options).output; // [1, N, V]
        const cache = new KeyValueCache();
        const rows: tf.Tensor3D[] = [];
        const prompt = idTensor(sequence.slice(0, 7));
        rows.push(forward(model, { inputIds: prompt }, { ...options, cache }).output); // [1, 7, V]
        expect(cache.slots).toBe(slotsOf(model, options));
        for (let at = 7; at < N; at += at < 12 ? 1 : 3) {
          const chunk = idTensor(sequence.slice(at, Math.min(N, at < 12 ? at + 1 : at + 3))); // single tokens, then chunks of 3
          const r = forward(model, { inputIds: chunk }, { ...options, cache });
          expect(r.description).toMatch(new RegExp(`key/value cache \\(${at} cached token`));
          rows.push(r.output);
          chunk.dispose();
        }
        expect(cache.tokens).toBe(N);
        const joined = tf.concat(rows, 1);
        const report = closeness(joined, full, { atol: 1e-5, rtol: 1e-5 });
        expect(report.ok, `${modelName} ${_name}: ${report.reason} (max |Δ| = ${report.maxAbsDiff})`).toBe(true);
        tf.dispose([all, full, prompt, joined, ...rows]);
        cache.dispose();
        model.dispose();
      },
    );
  }

  it('θ(t) linear between layer centres (operators built at every evaluation): the same rows, the same slots', () => {
    const model = loadCheckpoint(fixtureDir('gpt2-tiny'));
    const options: DiscretisationOptions = { scheme: 'heun', stepsPerLayer: 2, schedule: 'linear' };
    const sequence = ids(9, model.config.vocabSize!, 4);
    const all = idTensor(sequence);
    const full = forward(model, { inputIds: all }, options).output;
    const cache = new KeyValueCache();
    const rows = [idTensor(sequence.slice(0, 5)), ...sequence.slice(5).map((t) => idTensor([t]))].map((chunk) => {
      const out = forward(model, { inputIds: chunk }, { ...options, cache }).output;
      chunk.dispose();
      return out;
    });
    expect(cache.slots).toBe(slotsOf(model, options));
    const joined = tf.concat(rows, 1);
    expectClose(joined, full, { atol: 1e-5, rtol: 1e-5 }, 'linear θ(t), heun');
    tf.dispose([all, full, joined, ...rows]);
    cache.dispose();
    model.dispose();
  });

  it('evaluates one query row per new token: every softmax of a decoding step is [1, H, 1, N_past + 1]', async () => {
    const model = loadCheckpoint(DEFAULT_MODEL);
    const options: DiscretisationOptions = { scheme: 'rk4', stepsPerLayer: 2 };
    const slots = slotsOf(model, options);
    const cache = new KeyValueCache();
    const sequence = ids(20, model.config.vocabSize!, 5);
    const prompt = idTensor(sequence.slice(0, 16));
    tf.dispose(forward(model, { inputIds: prompt }, { ...options, cache }).output);
    for (let at = 16; at < 20; at++) {
      const one = idTensor([sequence[at]!]);
      cache.resetStatistics();
      const profile = await tf.profile(() => forward(model, { inputIds: one }, { ...options, cache }).output);
      expect(cache.statistics).toEqual({ passes: 1, evaluations: slots, queries: slots, keys: slots * (at + 1) });
      const softmax = profile.kernels.filter((k) => k.name === 'Softmax');
      expect(softmax).toHaveLength(slots); // the attention evaluations, nothing else takes a softmax
      for (const k of softmax) expect(k.outputShapes).toEqual([[1, model.config.heads, 1, at + 1]]);
      // No kernel of the step handles more than one token's rows: no [·, N, N] scores, no [N, ·] maps.
      for (const k of profile.kernels)
        for (const shape of k.outputShapes) expect(shape.slice(-2).filter((s) => s === at + 1).length).toBeLessThan(2);
      tf.dispose([profile.result as tf.Tensor, one]);
    }
    prompt.dispose();
    cache.dispose();
    model.dispose();
  });

  it('a solve that throws leaves the cache as it was and leaks nothing; the cache then goes on', async () => {
    const model = loadCheckpoint(fixtureDir('gpt2-tiny'));
    const sequence = ids(10, model.config.vocabSize!, 2);
    const cache = new KeyValueCache();
    const prompt = idTensor(sequence.slice(0, 6));
    tf.dispose(forward(model, { inputIds: prompt }, { cache }).output);
    const bytes = cache.bytes;
    const one = idTensor([sequence[6]!]);
    // Break the second layer's FFN (a disposed bias of the right shape: the operators build, the solve throws
    // when it reaches them, after the attention evaluations before them staged their keys and values).
    const layers = model.parameters.layers as LayerParametersList;
    const layer = layers[1]!;
    layers[1] = { ...layer, feedforward: { ...layer.feedforward, b2: disposedLike(layer.feedforward.b2!) } };
    const evaluated = cache.statistics.evaluations;
    await expectNoLeaks(() => {
      expect(() => forward(model, { inputIds: one }, { cache })).toThrow();
    }, 'failed incremental solve');
    expect(cache.statistics.evaluations).toBeGreaterThan(evaluated); // it failed inside the solve, after a slot
    expect([cache.tokens, cache.bytes, cache.inPass]).toEqual([6, bytes, false]);
    layers[1] = layer;
    // It continues where it was: the logits equal the full forward's.
    const r = forward(model, { inputIds: one }, { cache });
    const all = idTensor(sequence.slice(0, 7));
    const full = forward(model, { inputIds: all }).output;
    expectClose(r.output, tf.slice(full, [0, 6, 0], [1, 1, -1]), { atol: 1e-5, rtol: 1e-5 });
    tf.dispose([r.output, all, full, prompt, one]);
    cache.dispose();
    model.dispose();
  });
});

type LayerParametersList = TransformerModel['parameters']['layers'][number][];

/** A disposed tensor of `t`'s shape: an operator built with it passes its checks and throws when evaluated. */
function disposedLike<T extends tf.Tensor>(t: T): T {
  const copy = tf.zerosLike(t); // its own data (a clone would share t's)
  copy.dispose();
  return copy;
}

describeEachBackend('generate with a key/value cache', () => {
  for (const [modelName, load] of Object.entries(MODELS)) {
    it.each(Object.entries(SCHEMES))(
      `${modelName}, %s: the same tokens as re-solving the window, greedy and sampled, past n_positions`,
      (_name, options) => {
        const model = load();
        const P = model.config.positions!;
        const prompt = ids(5, model.config.vocabSize!, 4);
        // gpt2-tiny (P = 32) slides past n_positions (4 tokens beyond); the default model, 4× wider and twice as
        // deep, appends 12 tokens (the slide is gpt2-tiny's case: the same code path).
        const count = modelName === 'gpt2-tiny' ? P - prompt.length + 4 : 12;
        for (const sampling of [{}, { temperature: 0.9, topK: 12, seed: 7 }]) {
          const cached = generate(model, prompt, { ...options, ...sampling, maxNewTokens: count });
          const plain = generate(model, prompt, { ...options, ...sampling, maxNewTokens: count, cache: false });
          expect(cached, `${modelName} ${_name} ${JSON.stringify(sampling)}`).toEqual(plain);
          expect(cached).toHaveLength(count);
        }
        model.dispose();
      },
    );
  }

  it('leaves no tensors behind, also when a solve inside the loop throws', async () => {
    const model = loadCheckpoint(fixtureDir('gpt2-tiny'));
    const prompt = ids(4, model.config.vocabSize!, 6);
    const before = tf.memory().numTensors;
    generate(model, prompt, { maxNewTokens: 40, scheme: 'rk4', stepsPerLayer: 2 });
    expect(tf.memory().numTensors).toBe(before);
    // A work budget the prompt and every incremental step fit in, but not a full window of n_positions tokens:
    // the first solve after the window slides (token 29, with keys and values cached) throws.
    const P = model.config.positions!;
    const full = estimateForward(model, { batch: 1, tokens: P });
    const prefill = estimateForward(model, { batch: 1, tokens: prompt.length });
    const step = estimateForward(model, { batch: 1, tokens: 1, keys: P });
    const maxFlops = (Math.max(prefill.flops, step.flops) + full.flops) / 2;
    expect(maxFlops).toBeLessThan(full.flops);
    await expectNoLeaks(() => {
      const e = thrownBy(() => generate(model, prompt, { maxNewTokens: 40, budget: { maxFlops } }));
      expect(e).toBeInstanceOf(BudgetError);
    }, 'generate that throws in the loop');
    // Without the cache the first step that re-solves a window beyond the budget throws.
    await expectNoLeaks(() => {
      expect(() => generate(model, prompt, { maxNewTokens: 40, cache: false, budget: { maxFlops } })).toThrow(
        BudgetError,
      );
    }, 'generate without cache that throws');
    // An error in the middle of a solve (a broken parameter of the second layer).
    const layers = model.parameters.layers as LayerParametersList;
    const layer = layers[1]!;
    layers[1] = { ...layer, feedforward: { ...layer.feedforward, b2: disposedLike(layer.feedforward.b2!) } };
    await expectNoLeaks(() => {
      expect(() => generate(model, prompt, { maxNewTokens: 3, scheme: 'rk4' })).toThrow();
    }, 'generate with a broken layer');
    layers[1] = layer;
    model.dispose();
  });

  it('a resampled token grid falls back to re-solving the window (the same tokens with cache on or off)', () => {
    const model = loadCheckpoint(fixtureDir('gpt2-tiny'));
    const prompt = ids(6, model.config.vocabSize!, 8);
    const options = { maxNewTokens: 6, tokenGrid: { resample: 12 } } as const;
    expect(generate(model, prompt, options)).toEqual(generate(model, prompt, { ...options, cache: false }));
    expect(() => generate(model, prompt, { cache: 'yes' as never })).toThrow(InputError);
    model.dispose();
  });

  it('generateTokens yields the tokens of generate one at a time; stopping early frees the cache', async () => {
    const model = loadCheckpoint(fixtureDir('gpt2-tiny'));
    const prompt = ids(5, model.config.vocabSize!, 3);
    const options = { maxNewTokens: 10, temperature: 0.8, topK: 8, seed: 5 } as const;
    expect([...generateTokens(model, prompt, options)]).toEqual(generate(model, prompt, options));
    await expectNoLeaks(() => {
      const seen: number[] = [];
      for (const token of generateTokens(model, prompt, options)) {
        seen.push(token);
        if (seen.length === 3) break; // return() runs the generator's finally: the cache is disposed
      }
      expect(seen).toEqual(generate(model, prompt, options).slice(0, 3));
    }, 'generateTokens stopped early');
    // Options are checked when the iterator is created, before any token.
    expect(() => generateTokens(model, prompt, { maxNewTokens: -1 })).toThrow(InputError);
    model.dispose();
  });
});

describe('forward with a key/value cache: misuse is refused with typed errors', () => {
  it('non-causal models, resampled grids, padding, a wrong position offset, positions past n_positions', () => {
    const gpt = loadCheckpoint(fixtureDir('gpt2-tiny'));
    const encoder = loadCheckpoint(fixtureDir('encoder-postln-relu'));
    const cache = new KeyValueCache();
    const x = tf.zeros([1, 3, encoder.config.dModel]) as tf.Tensor3D;
    const nonCausal = thrownBy(() => forward(encoder, { input: x }, { cache }));
    expect(nonCausal).toBeInstanceOf(InputError);
    expect(nonCausal.message).toMatch(/expected a causal model.*cached keys and values go stale/);
    const three = idTensor([1, 2, 3]);
    expect(() => forward(gpt, { inputIds: three }, { cache, tokenGrid: 'gauss-legendre' })).toThrow(
      DiscretisationError,
    );
    expect(() => forward(gpt, { inputIds: three, tokenWeights: [[1, 1, 0]] }, { cache })).toThrow(
      /expected an input without tokenWeights/,
    );
    expect(() => forward(gpt, { inputIds: three }, { cache, positionOffset: 2 })).toThrow(
      /positionOffset: expected the number of cached tokens, 0/,
    );
    expect(() => forward(gpt, { inputIds: three }, { cache: {} as KeyValueCache })).toThrow(InputError);
    tf.dispose(forward(gpt, { inputIds: three }, { cache }).output);
    // Another discretisation or another model with the same cache: refused, the cache unchanged.
    expect(() => forward(gpt, { inputIds: three }, { cache, scheme: 'rk4' })).toThrow(ShapeError);
    const other = loadCheckpoint(fixtureDir('gpt2-tiny'));
    expect(() => forward(other, { inputIds: three }, { cache })).toThrow(
      /expected a solve of what the cache was filled by/,
    );
    expect(cache.tokens).toBe(3);
    // 32 positions: 29 more tokens do not fit after 3.
    const long = idTensor(ids(30, 50));
    expect(() => forward(gpt, { inputIds: long }, { cache })).toThrow(
      /expected 1 to 29 tokens after position 3 \(n_positions = 32\)/,
    );
    expect(cache.tokens).toBe(3);
    // Without a cache a position offset places the input later in the sequence.
    const shifted = forward(gpt, { inputIds: three }, { positionOffset: 5 });
    expect(shifted.output.shape).toEqual([1, 3, 50]);
    expect(() => forward(gpt, { inputIds: three }, { positionOffset: 30 })).toThrow(InputError);
    tf.dispose([x, three, long, shifted.output]);
    cache.dispose();
    gpt.dispose();
    other.dispose();
    encoder.dispose();
  });

  it('the budget counts the cached keys: an incremental step costs O(N), the full solve O(N²)', () => {
    const model = loadCheckpoint(DEFAULT_MODEL);
    const P = model.config.positions!;
    const full = estimateForward(model, { batch: 1, tokens: P });
    const step = estimateForward(model, { batch: 1, tokens: 1, keys: P });
    expect(step.flops * 20).toBeLessThan(full.flops);
    expect(step.attentionPath).toBe('plain');
    expect(() => estimateForward(model, { batch: 1, tokens: 4, keys: 3 })).toThrow(BudgetError);
    model.dispose();
  });
});
