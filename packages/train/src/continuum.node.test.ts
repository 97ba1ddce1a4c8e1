// Training for the continuum (docs/continuous-depth.md, "Training a model whose continuum exists"): smooth controls
// whose variables are Legendre coefficients, a scheme drawn per batch, the agreement term KL(p_fine ‖ p_coarse), the
// control energy, a warm start fitted to a discrete network, checkpoints in the smooth-controls layout with the
// recommended scheme, bit-identical resume, no leaks, and bad options refused with one-line TrainingErrors.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { flattenTree, seededRandom, tf } from '@tide/backend';
import { expectClose, expectNoLeaks, thrownBy } from '@tide/backend/testing';
import { legendreControlEnergy } from '@tide/solvers';
import { controlSchedule, forward } from '@tide/transformer';
import { loadCheckpoint, saveCheckpoint } from '@tide/transformer/node';
import { characterCorpus, sampleBatch } from './corpus.js';
import { TrainingError } from './errors.js';
import {
  checkTrainOptions,
  initLanguageModel,
  languageModelLoss,
  trainLanguageModel,
  warmStart,
  type Architecture,
  type TrainOptions,
} from './train.js';

const text = readFileSync(fileURLToPath(new URL('../../../data/moby-dick.txt', import.meta.url)), 'utf8').slice(
  0,
  40_000,
);
const corpus = characterCorpus(text);
const arch: Architecture = { dModel: 16, heads: 2, layers: 2, contextLength: 16 };
const controls = { basis: 'legendre', coefficients: 3 } as const;
const work = mkdtempSync(join(tmpdir(), 'tide-continuum-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('smooth controls: training', () => {
  it('the loss decreases over 30 steps; the variables are the K coefficient sets', () => {
    const r = trainLanguageModel(corpus, arch, {
      steps: 30,
      batchSize: 8,
      learningRate: 1e-2,
      evalEvery: 10,
      evalBatches: 2,
      seed: 2,
      controls,
      schemes: [
        { scheme: 'rk4', stepsPerLayer: 1 },
        { scheme: 'heun', stepsPerLayer: 2 },
      ],
    });
    expect(r.model.config.controls).toEqual(controls);
    expect(r.model.config.numLayers).toBe(2);
    expect(r.model.parameters.layers).toHaveLength(3);
    const losses = r.history.map((h) => h.validationLoss!);
    expect(losses[0]).toBeLessThan(Math.log(96));
    expect(losses[2]).toBeLessThan(losses[0]!);
    expect(losses[2]).toBeLessThan(3.4);
    r.model.dispose();
  });

  it('languageModelLoss: KL(fine ‖ coarse) is 0 for the same solve and positive for another; the control energy is ∫‖θ′‖²', () => {
    const { model, variables } = initLanguageModel(arch, corpus.alphabet, 4, controls);
    const { inputs, targets } = sampleBatch(corpus.train, 2, 16, seededRandom(3));
    const same = languageModelLoss(model, inputs, targets, {
      scheme: 'rk4',
      fine: { scheme: 'rk4', stepsPerLayer: 1 },
      fineWeight: 1,
    });
    expect(Math.abs(same.fineDivergence!.dataSync()[0]!)).toBeLessThan(1e-6);
    const other = languageModelLoss(model, inputs, targets, {
      scheme: 'lie',
      fine: { scheme: 'rk4', stepsPerLayer: 4 },
      fineWeight: 0.5,
      controlWeight: 0.25,
    });
    const kl = other.fineDivergence!.dataSync()[0]!;
    expect(kl).toBeGreaterThan(0);
    const energy = legendreControlEnergy(model.parameters.layers, { span: [0, 2] });
    expectClose(other.controlEnergy!, energy, { atol: 0, rtol: 0 });
    expect(other.loss.dataSync()[0]).toBeCloseTo(
      other.crossEntropy.dataSync()[0]! + 0.5 * kl + 0.25 * energy.dataSync()[0]!,
      4,
    );
    // Gradients reach every coefficient set through both solves and the energy.
    const { grads, value } = tf.variableGrads(
      () =>
        languageModelLoss(model, inputs, targets, {
          scheme: 'lie',
          fine: { scheme: 'rk4', stepsPerLayer: 2 },
          fineWeight: 1,
          controlWeight: 1,
        }).loss,
      [...variables.values()],
    );
    for (const k of [0, 1, 2]) {
      const g = grads[`layers.${k}.feedforward.w1`] ?? grads[variables.get(`layers.${k}.feedforward.w1`)!.name];
      expect(g, `coefficient ${k}`).toBeDefined();
      expect(tf.tidy(() => tf.max(tf.abs(g!)).dataSync()[0]!)).toBeGreaterThan(0);
    }
    tf.dispose([
      inputs,
      targets,
      value,
      ...Object.values(grads),
      energy,
      ...Object.values(same),
      ...Object.values(other),
    ]);
    model.dispose();
  });

  it('--init-from with K = L: θ(i + ½) reproduces layer i of the discrete model; embeddings and final norm are copied', () => {
    const discrete = trainLanguageModel(corpus, arch, { steps: 3, batchSize: 2, evalEvery: 3, evalBatches: 1 });
    const warm = warmStart(discrete.model, corpus.alphabet, { basis: 'legendre', coefficients: 2 });
    expect(warm.model.config.controls).toEqual({ basis: 'legendre', coefficients: 2 });
    const theta = controlSchedule(warm.model)!;
    for (let i = 0; i < 2; i++) {
      const at = theta.at(i + 0.5);
      const mine = flattenTree(discrete.model.parameters.layers[i]);
      for (const [path, t] of flattenTree(at))
        expectClose(t, mine.get(path)!, { atol: 1e-6, rtol: 1e-5 }, `θ(${i + 0.5}).${path}`);
      tf.dispose([...flattenTree(at).values()]);
    }
    expectClose(warm.model.parameters.embeddings!.tokens, discrete.model.parameters.embeddings!.tokens, {
      atol: 0,
      rtol: 0,
    });
    expectClose(warm.model.parameters.finalNorm!.gamma, discrete.model.parameters.finalNorm!.gamma, {
      atol: 0,
      rtol: 0,
    });
    expect([...warm.variables.keys()].filter((k) => k.startsWith('layers.')).length).toBe(2 * 16);
    // A smooth source with the same K is copied; a discrete source without controls too (a discrete warm start).
    const again = warmStart(warm.model, corpus.alphabet, { basis: 'legendre', coefficients: 2 });
    const plain = warmStart(discrete.model, corpus.alphabet, undefined);
    expect(plain.model.config.controls).toBeUndefined();
    for (const [copy, from] of [
      [again, warm.model],
      [plain, discrete.model],
    ] as const) {
      const original = flattenTree(from.parameters);
      for (const [path, t] of flattenTree(copy.model.parameters)) {
        expect(t).not.toBe(original.get(path));
        expectClose(t, original.get(path)!, { atol: 0, rtol: 0 }, path);
      }
      copy.model.dispose();
    }
    warm.model.dispose();
    // The same through trainLanguageModel (from a checkpoint on disk); a fine solve regularises the run.
    const dir = join(work, 'discrete');
    saveCheckpoint(discrete.model, dir);
    const source = loadCheckpoint(dir);
    const run = trainLanguageModel(corpus, arch, {
      steps: 2,
      batchSize: 2,
      evalEvery: 2,
      evalBatches: 1,
      controls: { basis: 'legendre', coefficients: 2 },
      initFrom: source,
      fineWeight: 1,
      fine: { scheme: 'rk4', stepsPerLayer: 2 },
      outDir: join(work, 'warm'),
    });
    expect(Number.isFinite(run.validationLoss)).toBe(true);
    const cfg = JSON.parse(readFileSync(join(work, 'warm', 'config.json'), 'utf8'));
    expect(cfg.tide).toMatchObject({
      scheme: 'rk4',
      stepsPerLayer: 1,
      fine: 'rk4:2',
      fineWeight: 1,
      initFrom: join(dir, 'model.safetensors'),
    });
    expect(JSON.parse(readFileSync(join(work, 'warm', 'trainer.json'), 'utf8')).options.initFrom).toBe(
      join(dir, 'model.safetensors'),
    );
    run.model.dispose();
    source.dispose();
    discrete.model.dispose();
  });

  it('checkpoints carry the controls layout and the recommended scheme (the first of schemes); they reload with the same logits', () => {
    const dir = join(work, 'layout');
    const r = trainLanguageModel(corpus, arch, {
      steps: 3,
      batchSize: 2,
      evalEvery: 3,
      evalBatches: 1,
      controls,
      schemes: [
        { scheme: 'rk4', stepsPerLayer: 2 },
        { scheme: 'strang', stepsPerLayer: 1 },
      ],
      controlWeight: 0.01,
      outDir: dir,
    });
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(cfg).toMatchObject({
      model_type: 'gpt2',
      n_layer: 2,
      tide_controls: { basis: 'legendre', coefficients: 3 },
      tide: { scheme: 'rk4', stepsPerLayer: 2, trainedSteps: 3, schemes: ['rk4:2', 'strang:1'], controlWeight: 0.01 },
    });
    expect(cfg.tide.schedule).toBeUndefined();
    const loaded = loadCheckpoint(dir);
    expect(loaded.config.controls).toEqual(controls);
    const ids = tf.tensor2d([[40, 73, 72, 0, 5, 9, 33]], [1, 7], 'int32');
    const a = forward(r.model, { inputIds: ids }, { scheme: 'rk4', stepsPerLayer: 2 }).output;
    const b = forward(loaded, { inputIds: ids }, { scheme: 'rk4', stepsPerLayer: 2 }).output;
    expectClose(b, a, { atol: 0, rtol: 0 });
    tf.dispose([ids, a, b]);
    loaded.dispose();
    r.model.dispose();
  });

  it('resuming from a checkpoint gives bit-identical parameters and losses to an uninterrupted run', () => {
    const opts: TrainOptions = {
      steps: 12,
      batchSize: 3,
      learningRate: 5e-3,
      evalEvery: 4,
      evalBatches: 1,
      seed: 5,
      controls,
      schemes: [
        { scheme: 'rk4', stepsPerLayer: 1 },
        { scheme: 'lie', stepsPerLayer: 2 },
        { scheme: 'heun', stepsPerLayer: 1 },
      ],
      fineWeight: 0.5,
      fine: { scheme: 'rk4', stepsPerLayer: 2 },
      controlWeight: 0.01,
      kineticWeight: 0.01,
    };
    const seen: string[] = [];
    const straight = trainLanguageModel(corpus, arch, {
      ...opts,
      outDir: join(work, 'straight'),
      onProgress: (p) => seen.push(`${p.scheme!.scheme}:${p.scheme!.stepsPerLayer}`),
    });
    expect(new Set(seen).size).toBeGreaterThan(1); // the schemes are drawn per batch
    const dir = join(work, 'resumed');
    trainLanguageModel(corpus, arch, { ...opts, outDir: dir, stopAfter: 6 }).model.dispose();
    const resumed = trainLanguageModel(corpus, arch, { ...opts, outDir: dir, resume: true });
    const mine = flattenTree(straight.model.parameters);
    for (const [path, t] of flattenTree(resumed.model.parameters))
      expectClose(t, mine.get(path)!, { atol: 0, rtol: 0 }, path);
    expect(resumed.validationLoss).toBe(straight.validationLoss);
    // The interrupted run also validated where it stopped (step 6); every other entry is the same number.
    const steps = new Set(straight.history.map((h) => h.step));
    expect(resumed.history.filter((h) => steps.has(h.step)).map((h) => h.validationLoss)).toEqual(
      straight.history.map((h) => h.validationLoss),
    );
    straight.model.dispose();
    resumed.model.dispose();
  });

  it('leaves no tensors behind: a training step with every term; a run with controls (model disposed); a warm start', async () => {
    const { model, variables } = initLanguageModel(arch, corpus.alphabet, 2, controls);
    const { inputs, targets } = sampleBatch(corpus.train, 2, 16, seededRandom(4));
    await expectNoLeaks(() =>
      tf.variableGrads(
        () =>
          languageModelLoss(model, inputs, targets, {
            scheme: 'rk4',
            kineticWeight: 0.1,
            fine: { scheme: 'rk4', stepsPerLayer: 2 },
            fineWeight: 1,
            controlWeight: 0.1,
          }).loss,
        [...variables.values()],
      ),
    );
    await expectNoLeaks(() => {
      trainLanguageModel(corpus, arch, {
        steps: 2,
        batchSize: 2,
        evalEvery: 2,
        evalBatches: 1,
        controls,
        fineWeight: 1,
        controlWeight: 0.1,
      }).model.dispose();
    });
    await expectNoLeaks(() => warmStart(model, corpus.alphabet, controls).model.dispose());
    await expectNoLeaks(() => {
      expect(() => trainLanguageModel(corpus, { ...arch, layers: 3 }, { steps: 2, controls, initFrom: model })).toThrow(
        TrainingError,
      );
    });
    tf.dispose([inputs, targets]);
    model.dispose();
  });

  it('refuses bad options with a one-line TrainingError naming the flag', () => {
    const { model: discrete } = initLanguageModel(arch, corpus.alphabet, 1);
    const cases: [Architecture, Partial<TrainOptions>, RegExp][] = [
      [
        arch,
        { controls: { basis: 'legendre', coefficients: 0 } },
        /^train: controls: expected \{ basis: 'legendre', coefficients: K \} with K an integer from 1 to 64, received "legendre":0\. Fix: pass --controls legendre:K/,
      ],
      [
        arch,
        { controls: { basis: 'chebyshev' as never, coefficients: 4 } },
        /^train: controls: expected .*received "chebyshev":4/,
      ],
      [
        arch,
        { controls: { basis: 'legendre', coefficients: 65 } },
        /^train: controls: expected .*received "legendre":65/,
      ],
      [{ ...arch, normFirst: false }, { controls }, /^train: controls: expected pre-LN layers/],
      [
        arch,
        { controls, scheme: 'exact' },
        /^train: --scheme exact:1: scheme exact: expected a time-stepping scheme for smooth controls .*Fix: use --scheme rk4/,
      ],
      [
        arch,
        { controls, schedule: 'linear' },
        /^train: --scheme rk4:1: schedule linear: expected θ\(t\) from the model's 3 Legendre coefficients/,
      ],
      [
        arch,
        { schemes: [{ scheme: 'rk4', stepsPerLayer: 1 }], scheme: 'lie' },
        /^train: schemes: expected either schemes or scheme \/ stepsPerLayer/,
      ],
      [
        arch,
        { schemes: [] },
        /^train: schemes: expected a list of 1 to 64 scheme:k choices, received an array of length 0/,
      ],
      [
        arch,
        { schemes: [{ scheme: 'rk5' as never, stepsPerLayer: 1 }] },
        /^train: --schemes rk5:1: scheme: expected one of exact, lie/,
      ],
      [
        arch,
        { schemes: [{ scheme: 'rk4', stepsPerLayer: 0 }] },
        /^train: --schemes rk4:0: steps per layer: expected an integer from 1 to 4096/,
      ],
      [
        { ...arch, normFirst: false },
        { scheme: 'rk4' },
        /^train: --scheme rk4:1: expected exact or lie for post-LN layers/,
      ],
      [
        arch,
        { fine: { scheme: 'rk4', stepsPerLayer: 4 } },
        /^train: --fine: expected a --fine-weight w > 0 with --fine, received --fine rk4:4 without a weight/,
      ],
      [arch, { fineWeight: -1 }, /^train: --fine-weight: expected a finite number ≥ 0, received -1/],
      [
        arch,
        { fineWeight: 1, fine: { scheme: 'heun', stepsPerLayer: 1.5 } },
        /^train: --fine heun:1\.5: steps per layer/,
      ],
      [
        arch,
        { controlWeight: 0.1 },
        /^train: --control-energy: expected smooth controls .*received --control-energy 0\.1 without --controls/,
      ],
      [arch, { controlWeight: NaN, controls }, /^train: --control-energy: expected a finite number ≥ 0, received NaN/],
      [arch, { kineticWeight: Infinity }, /^train: --kinetic: expected a finite number ≥ 0/],
      [
        { ...arch, dModel: 32 },
        { initFrom: discrete },
        /^train: --init-from initLanguageModel: expected the sizes of the model to train \(n_embd 32, n_inner 128\), received n_embd 16, n_inner 64/,
      ],
      [
        arch,
        { controls: { basis: 'legendre', coefficients: 3 }, initFrom: discrete },
        /^train: --controls legendre:3 with --init-from initLanguageModel: expected at most 2 coefficients/,
      ],
      [arch, { initFrom: {} as never }, /^train: --init-from: expected a GPT-2 language model/],
    ];
    for (const [a, o, message] of cases) {
      const error = thrownBy(() => checkTrainOptions(a, { steps: 1, ...o }, corpus.alphabet));
      expect(error, message.source).toBeInstanceOf(TrainingError);
      expect(error.message).toMatch(message);
      expect(error.message).not.toMatch(/\n/);
    }
    // A smooth source with another K, and resuming a run with other controls.
    const smooth = initLanguageModel(arch, corpus.alphabet, 1, { basis: 'legendre', coefficients: 2 });
    expect(() => checkTrainOptions(arch, { steps: 1, initFrom: smooth.model, controls }, corpus.alphabet)).toThrow(
      /expected a discrete network, or smooth controls with K = 3, received smooth controls with K = 2\. Fix: pass --controls legendre:2/,
    );
    smooth.model.dispose();
    const dir = join(work, 'discrete-run');
    trainLanguageModel(corpus, arch, {
      steps: 1,
      batchSize: 2,
      evalEvery: 1,
      evalBatches: 1,
      outDir: dir,
    }).model.dispose();
    expect(() => trainLanguageModel(corpus, arch, { steps: 2, outDir: dir, resume: true, controls })).toThrow(
      /^train --resume: .*: expected smooth controls with K = 3, received a discrete checkpoint/,
    );
    discrete.dispose();
  });
});
