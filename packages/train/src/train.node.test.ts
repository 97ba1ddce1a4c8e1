import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { expectClose, expectNoLeaks } from '@tide/backend/testing';
import { seededRandom, tf } from '@tide/backend';
import { writeSafetensors } from '@tide/formats';
import { forward, generate } from '@tide/transformer';
import { loadCheckpoint } from '@tide/transformer/node';
import { characterCorpus, sampleBatch } from './corpus.js';
import { initLanguageModel, languageModelLoss, trainLanguageModel, type Architecture } from './train.js';
import { warmupCosine } from './adamw.js';

const text = readFileSync(fileURLToPath(new URL('../../../data/moby-dick.txt', import.meta.url)), 'utf8').slice(
  0,
  60_000,
);
const corpus = characterCorpus(text);
const arch: Architecture = { dModel: 16, heads: 2, layers: 2, contextLength: 16 };
const work = mkdtempSync(join(tmpdir(), 'tide-train-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('training as optimal control', () => {
  it('the corpus maps onto 96 characters with a held-out tail; the schedule warms up then decays', () => {
    expect(corpus.alphabet).toHaveLength(96);
    expect(corpus.validation.length).toBeGreaterThan(5000);
    expect(Math.max(...corpus.train)).toBeLessThan(96);
    expect(warmupCosine(0, 1, 10, 100)).toBeCloseTo(0.1);
    expect(warmupCosine(9, 1, 10, 100)).toBeCloseTo(1);
    expect(warmupCosine(100, 1, 10, 100)).toBeCloseTo(0.1);
  });

  it('gradient descent through the solver lowers the validation loss from ln 96', () => {
    const r = trainLanguageModel(corpus, arch, {
      steps: 60,
      batchSize: 8,
      learningRate: 1e-2,
      evalEvery: 30,
      evalBatches: 2,
      seed: 1,
    });
    expect(r.history[0]!.validationLoss).toBeLessThan(Math.log(96));
    expect(r.validationLoss).toBeLessThan(3.3);
    expect(r.history.map((h) => h.step)).toEqual([30, 60]);
    r.model.dispose();
  });

  it('is deterministic, and resuming from a checkpoint continues exactly', () => {
    const opts = { batchSize: 4, learningRate: 5e-3, evalEvery: 10, evalBatches: 1, seed: 3 } as const;
    const zeroA = initLanguageModel(arch, corpus.alphabet, 0);
    const zeroB = initLanguageModel(arch, corpus.alphabet, 0);
    for (const [name, v] of zeroA.variables)
      expectClose(zeroB.variables.get(name)!, v, { atol: 0, rtol: 0 }, `seed 0: ${name}`);
    zeroA.model.dispose();
    zeroB.model.dispose();
    const straight = trainLanguageModel(corpus, arch, { ...opts, steps: 20 });
    const again = trainLanguageModel(corpus, arch, { ...opts, steps: 20 });
    expect(again.history).toEqual(straight.history);
    const dir = join(work, 'resume');
    trainLanguageModel(corpus, arch, { ...opts, steps: 20, stopAfter: 10, outDir: dir }).model.dispose();
    const resumed = trainLanguageModel(corpus, arch, { ...opts, steps: 20, outDir: dir, resume: true });
    expect(resumed.validationLoss).toBeCloseTo(straight.validationLoss, 4);
    expectClose(resumed.model.parameters.embeddings!.tokens, straight.model.parameters.embeddings!.tokens, {
      atol: 1e-5,
      rtol: 1e-4,
    });
    [straight, again, resumed].forEach((r) => r.model.dispose());
  });

  it('saves in the HF GPT-2 layout: the checkpoint reloads and gives the same logits', () => {
    const dir = join(work, 'gpt2');
    const r = trainLanguageModel(corpus, arch, { steps: 5, batchSize: 4, evalEvery: 5, evalBatches: 1, outDir: dir });
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(cfg).toMatchObject({
      model_type: 'gpt2',
      n_embd: 16,
      n_head: 2,
      n_layer: 2,
      n_positions: 16,
      vocab_size: 96,
      tide: { scheme: 'lie', trainedSteps: 5 },
    });
    const loaded = loadCheckpoint(dir);
    const ids = tf.tensor2d([[40, 73, 72, 0, 5, 9, 33]], [1, 7], 'int32');
    const a = forward(r.model, { inputIds: ids }).output;
    const b = forward(loaded, { inputIds: ids }).output;
    expectClose(b, a, { atol: 1e-5, rtol: 1e-5 });
    tf.dispose([ids, a, b]);
    loaded.dispose();
    r.model.dispose();
  });

  it('post-LN layers train with the paper\'s Lie scheme and reload as post-LN (recorded under "tide")', () => {
    const dir = join(work, 'post-ln');
    const r = trainLanguageModel(
      corpus,
      { ...arch, normFirst: false },
      { steps: 6, batchSize: 4, learningRate: 1e-2, evalEvery: 3, evalBatches: 1, outDir: dir },
    );
    expect(r.history[1]!.validationLoss).toBeLessThan(Math.log(96));
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).tide.norm_first).toBe(false);
    const loaded = loadCheckpoint(dir);
    expect(loaded.config.normFirst).toBe(false);
    const ids = tf.tensor2d([[3, 40, 41, 7]], [1, 4], 'int32');
    const a = forward(r.model, { inputIds: ids });
    const b = forward(loaded, { inputIds: ids });
    expect(a.stats.subSteps).toBe(2 * 8); // the post-LN splitting: 8 sub-steps per layer
    expectClose(b.output, a.output, { atol: 1e-5, rtol: 1e-5 });
    tf.dispose([ids, a.output, b.output]);
    loaded.dispose();
    r.model.dispose();
  });

  it('the kinetic energy is Σ‖u_{n+1} − u_n‖²/Δt over the solver steps, and other schemes train too', () => {
    const { model } = initLanguageModel(arch, corpus.alphabet, 5);
    const { inputs, targets } = sampleBatch(corpus.train, 2, 16, seededRandom(1));
    const k1 = languageModelLoss(model, inputs, targets, { kineticWeight: 0.5 });
    const layers = forward(model, { inputIds: inputs }, { saveLayers: true }).states;
    const manual = tf.tidy(() =>
      layers
        .slice(1)
        .reduce((s, l, i) => s + tf.mean(tf.sum(tf.square(tf.sub(l.values, layers[i]!.values)), -1)).dataSync()[0]!, 0),
    );
    expect(k1.kinetic.dataSync()[0]).toBeCloseTo(manual, 4);
    expect(k1.loss.dataSync()[0]).toBeCloseTo(k1.crossEntropy.dataSync()[0]! + 0.5 * manual, 4);
    const strang = languageModelLoss(model, inputs, targets, {
      scheme: 'strang',
      stepsPerLayer: 2,
      kineticWeight: 0.1,
    });
    expect(Number.isFinite(strang.loss.dataSync()[0]!)).toBe(true);
    const r = trainLanguageModel(corpus, arch, {
      steps: 3,
      batchSize: 2,
      evalEvery: 3,
      evalBatches: 1,
      scheme: 'rk4',
      kineticWeight: 0.01,
    });
    expect(Number.isFinite(r.validationLoss)).toBe(true);
    const linear = trainLanguageModel(corpus, arch, {
      steps: 2,
      batchSize: 2,
      evalEvery: 2,
      evalBatches: 1,
      scheme: 'heun',
      stepsPerLayer: 2,
      schedule: 'linear',
    });
    expect(Number.isFinite(linear.validationLoss)).toBe(true);
    linear.model.dispose();
    tf.dispose([
      inputs,
      targets,
      k1.loss,
      k1.crossEntropy,
      k1.kinetic,
      strang.loss,
      strang.crossEntropy,
      strang.kinetic,
      ...layers.map((l) => l.values),
    ]);
    model.dispose();
    r.model.dispose();
  });

  it('leaves no tensors behind: a loss with its gradient, a training run (model disposed), generation', async () => {
    const { model, variables } = initLanguageModel(arch, corpus.alphabet, 2);
    const { inputs, targets } = sampleBatch(corpus.train, 2, 16, seededRandom(4));
    await expectNoLeaks(() =>
      tf.variableGrads(
        () => languageModelLoss(model, inputs, targets, { kineticWeight: 0.1 }).loss,
        [...variables.values()],
      ),
    );
    await expectNoLeaks(() => {
      generate(model, [1, 2, 3], { maxNewTokens: 3, temperature: 1, topK: 5, seed: 1 });
    });
    tf.dispose([inputs, targets]);
    model.dispose();
    await expectNoLeaks(() => {
      trainLanguageModel(corpus, arch, { steps: 2, batchSize: 2, evalEvery: 2, evalBatches: 1 }).model.dispose();
    });
  });

  it('refuses bad input: a short corpus, an impossible architecture, bad steps, a missing trainer state', async () => {
    expect(() => characterCorpus('too short')).toThrow(
      /expected at least ~1 200 characters of the alphabet, received 9 characters/,
    );
    expect(() => characterCorpus(text, { validationFraction: 0.9 })).toThrow(
      /validationFraction: expected a number in \(0, 0\.5\)/,
    );
    expect(() => initLanguageModel({ dModel: 10, heads: 3, layers: 1, contextLength: 8 }, corpus.alphabet)).toThrow(
      /architecture: expected positive integers with heads dividing d_model/,
    );
    expect(() => trainLanguageModel(corpus, arch, { steps: 0 })).toThrow(
      /train: steps: expected an integer > 0, received 0/,
    );
    expect(() => trainLanguageModel(corpus, arch, { steps: 1, resume: true })).toThrow(/train --resume/);
    // A damaged trainer state is a typed error, not a crash inside JSON.parse.
    const damaged = join(work, 'damaged');
    trainLanguageModel(corpus, arch, {
      steps: 2,
      batchSize: 2,
      evalEvery: 2,
      evalBatches: 1,
      outDir: damaged,
    }).model.dispose();
    await expectNoLeaks(() => {
      writeFileSync(join(damaged, 'trainer.json'), '{ "step": "two" }');
      expect(() => trainLanguageModel(corpus, arch, { steps: 2, resume: true, outDir: damaged })).toThrow(
        /trainer\.json: expected \{ "step": integer, "history": \[\.\.\.\] \} written by tide train/,
      );
      writeFileSync(join(damaged, 'trainer.json'), '{ not json');
      expect(() => trainLanguageModel(corpus, arch, { steps: 2, resume: true, outDir: damaged })).toThrow(
        /trainer\.json: expected valid JSON/,
      );
      // Moments missing from the trainer state: the resumed model and the optimizer are disposed.
      writeFileSync(join(damaged, 'trainer.json'), JSON.stringify({ step: 1, history: [] }));
      writeFileSync(join(damaged, 'trainer-state.safetensors'), writeSafetensors({}));
      expect(() => trainLanguageModel(corpus, arch, { steps: 2, resume: true, outDir: damaged })).toThrow(
        /expected the optimizer moments of every variable/,
      );
    });
  });
});
