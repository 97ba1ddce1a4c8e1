// The study's analyses (analysis.ts) on the embedded default model (character GPT-2, pre-LN, causal) and on the
// PyTorch encoder fixtures (pre-LN GELU, causal; post-LN ReLU with padding): what they compute is checked
// against the mathematics (rows of γ integrate to 1, an independent plain-tfjs kernel, projections land near S₁,
// principal components are centred and uncorrelated, measured orders), and every call leaves no tensor behind.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { describeEachBackend, expectTensorCount, thrownBy } from '@tide/backend/testing';
import type { Field } from '@tide/domain';
import { fixtureDir, fixtureIO, type FixtureIO } from '@tide/fixtures';
import { tokenizerFor } from '@tide/formats';
import {
  DiscretisationError,
  InputError,
  forward,
  type ForwardInput,
  type ForwardOptions,
  type TransformerModel,
} from '@tide/transformer';
import { loadCheckpoint } from '@tide/transformer/node';
import {
  constraintDistances,
  kernelsAt,
  layerKernels,
  measuredOrders,
  stateRows,
  tokenLabels,
  trajectories,
} from './analysis.js';
import type { KernelPanel } from './charts.js';
import { runStudy } from './study.js';

const DEFAULT_MODEL = fileURLToPath(new URL('../models/default', import.meta.url));

/** The saved states of one solve; the caller disposes them with `dispose`. */
function solveStates(model: TransformerModel, input: ForwardInput, options: ForwardOptions) {
  const run = forward(model, input, options);
  run.output.dispose();
  return { states: run.states, dispose: () => tf.dispose(run.states.map((f) => f.values)) };
}

/** Σ_l w_l γ(x_k, x_l) for every shown row of every panel. */
function rowIntegrals(panels: readonly KernelPanel[], weights: ArrayLike<number>): number[] {
  return panels.flatMap((p) => p.gamma.map((row) => row.reduce((s, g, l) => s + weights[l]! * g, 0)));
}

/** γ of layer 0 from the raw parameters, with plain tfjs (pre-LN: LN₁ first; causal mask): `[H][N][N]`. */
function referenceKernel(model: TransformerModel, x: tf.Tensor3D): number[][][] {
  const { heads, epsilon, causal } = model.config;
  const layer = model.parameters.layers[0]!;
  const a = layer.attention;
  return tf
    .tidy(() => {
      const u = tf.squeeze(x, [0]) as tf.Tensor2D; // [N, d]
      const { mean, variance } = tf.moments(u, -1, true);
      const v = tf.add(
        tf.mul(tf.div(tf.sub(u, mean), tf.sqrt(tf.add(variance, epsilon))), layer.norm1.gamma),
        layer.norm1.beta,
      );
      const [n, d] = u.shape;
      const dk = d / heads;
      const split = (w: tf.Tensor2D, b: tf.Tensor1D | undefined) =>
        tf.transpose(tf.reshape(b ? tf.add(tf.matMul(v, w), b) : tf.matMul(v, w), [n, heads, dk]), [1, 0, 2]);
      const scores = tf.div(tf.matMul(split(a.wq, a.bq), split(a.wk, a.bk), false, true), Math.sqrt(dk)); // [H, N, N]
      const mask = causal ? tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([n, n]), -1, 0)), -1e9) : tf.zeros([n, n]);
      return tf.softmax(tf.add(scores, mask));
    })
    .arraySync() as number[][][];
}

describeEachBackend('study analyses on the embedded default model', () => {
  let model: TransformerModel;
  let ids: number[];
  let inputIds: tf.Tensor2D;
  let labels: string[];
  beforeAll(async () => {
    model = loadCheckpoint(DEFAULT_MODEL);
    const tokenizer = (await tokenizerFor(model.config))!;
    ids = tokenizer.encode('Call me Ishmael.\nSome years');
    inputIds = tf.tensor2d([ids], [1, ids.length], 'int32');
    labels = tokenLabels(tokenizer, ids);
  });
  afterAll(() => {
    inputIds.dispose();
    model.dispose();
  });

  it('tokenLabels: decoded tokens (a newline stays visible), or #id without a tokenizer', () => {
    expect(labels.slice(0, 4)).toEqual(['C', 'a', 'l', 'l']);
    expect(labels[16]).toBe('\\n');
    expect(tokenLabels(undefined, [3, 17])).toEqual(['#3', '#17']);
    const e = thrownBy(() => tokenLabels(undefined, [1, -2]));
    expect(e).toBeInstanceOf(InputError);
    expect((e as InputError).subject).toBe('tokenLabels: ids[1]');
    expect(() => tokenLabels(undefined, [0.5])).toThrow(InputError);
  });

  it('layerKernels: an L·H panels; causal rows integrate to 1; layer 0 matches an independent plain-tfjs kernel', async () => {
    const saved = solveStates(model, { inputIds }, { saveLayers: true });
    try {
      const n = ids.length;
      const panels = await expectTensorCount(() => layerKernels(model, saved.states, labels, n), 0, 'layerKernels');
      const { numLayers, heads } = model.config;
      expect(panels).toHaveLength(numLayers * heads);
      expect(panels.map((p) => `${p.layer}.${p.head}`).slice(0, heads + 1)).toEqual([
        '0.0',
        '0.1',
        '0.2',
        '0.3',
        '1.0',
      ]);
      expect(panels[0]!.tokens).toEqual(labels);
      for (const s of rowIntegrals(panels, new Array(n).fill(1))) expect(s).toBeCloseTo(1, 5);
      for (const p of panels)
        p.gamma.forEach((row, k) =>
          row.forEach((g, l) => (l > k ? expect(g).toBe(0) : expect(g).toBeGreaterThanOrEqual(0))),
        );
      const reference = referenceKernel(model, saved.states[0]!.values);
      panels
        .slice(0, heads)
        .forEach((p, h) =>
          p.gamma.forEach((row, k) =>
            row.forEach((g, l) => expect(Math.abs(g - reference[h]![k]![l]!)).toBeLessThan(2e-5)),
          ),
        );
      // Fewer shown tokens: the top-left corner of the same kernels (causal rows still integrate to 1).
      const corner = layerKernels(model, saved.states, labels, 5);
      expect(corner[3]!.gamma).toEqual(panels[3]!.gamma.slice(0, 5).map((r) => r.slice(0, 5)));
      expect(corner[3]!.tokens).toEqual(labels.slice(0, 5));
    } finally {
      saved.dispose();
    }
  });

  it("kernelsAt: t = l gives layerKernels' layer l; inside a layer it uses that layer on the given state", async () => {
    const saved = solveStates(model, { inputIds }, { saveLayers: true });
    const steps = solveStates(model, { inputIds }, { scheme: 'lie', stepsPerLayer: 2, saveSteps: true });
    try {
      const all = layerKernels(model, saved.states, labels, 8);
      const heads = model.config.heads;
      expect(await expectTensorCount(() => kernelsAt(model, saved.states[0]!, 0, labels, 8), 0)).toEqual(
        all.slice(0, heads),
      );
      expect(kernelsAt(model, saved.states[2]!, 2, labels, 8)).toEqual(all.slice(2 * heads, 3 * heads));
      // t = 2.5 with the state u(2.5): layer 2's parameters, a different state than at t = 2.
      const mid = kernelsAt(model, steps.states[5]!, 2.5, labels, 8);
      expect(mid.map((p) => p.layer)).toEqual([2, 2, 2, 2]);
      expect(mid[0]!.gamma).not.toEqual(all[2 * heads]!.gamma);
      // t = L: the last layer, on u(L).
      expect(kernelsAt(model, saved.states[4]!, 4, labels, 8).map((p) => p.layer)).toEqual([3, 3, 3, 3]);
      for (const t of [-0.1, 4.01, Number.NaN]) {
        const e = thrownBy(() => kernelsAt(model, saved.states[0]!, t, labels, 8));
        expect(e, String(t)).toBeInstanceOf(InputError);
        expect((e as InputError).subject).toBe('kernelsAt: t');
      }
    } finally {
      saved.dispose();
      steps.dispose();
    }
  });

  it("constraintDistances: P₁ and P₂ of every layer, before and after; 'after' is ≪ 'before'", async () => {
    const rows = await expectTensorCount(() => constraintDistances(model, { inputIds }), 0, 'constraintDistances');
    expect(rows.map((r) => `${r.step} ${r.when}`).slice(0, 5)).toEqual([
      'layer 0 · P₁ before',
      'layer 0 · P₁ after',
      'layer 0 · P₂ before',
      'layer 0 · P₂ after',
      'layer 1 · P₁ before',
    ]);
    expect(rows).toHaveLength(4 * 2 * 2);
    for (let i = 0; i < rows.length; i += 2) {
      expect(rows[i]!.distance).toBeGreaterThan(1);
      // P^ε with ε = 1e-5 lands within ~ε/β of S₁, not on it.
      expect(rows[i + 1]!.distance).toBeGreaterThan(0);
      expect(rows[i + 1]!.distance).toBeLessThan(rows[i]!.distance / 1000);
    }
    // The layer-0 P₁ input is the embedding: its distance by hand from the saved state.
    const saved = solveStates(model, { inputIds }, { saveLayers: true });
    try {
      const u = saved.states[0]!.values;
      const byHand = tf.tidy(() => {
        const { mean, variance } = tf.moments(u, -1);
        const d = model.config.dModel;
        return tf
          .mean(tf.sqrt(tf.mul(tf.add(tf.square(mean), tf.square(tf.sub(tf.sqrt(variance), 1))), d)))
          .dataSync()[0]!;
      });
      expect(rows[0]!.distance).toBeCloseTo(byHand, 4);
    } finally {
      saved.dispose();
    }
    // k steps per layer: a pair per step, labelled with the step.
    const fine = constraintDistances(model, { inputIds }, { scheme: 'lie', stepsPerLayer: 2 });
    expect(fine).toHaveLength(4 * 2 * 2 * 2);
    expect(fine[0]!.step).toBe('layer 0 · step 1/2 · P₁');
    expect(fine.at(-1)!.step).toBe('layer 3 · step 2/2 · P₂');
  });

  it('trajectories: a point per token and time, on centred, uncorrelated principal components', async () => {
    const steps = solveStates(model, { inputIds }, { scheme: 'rk4', stepsPerLayer: 4, saveSteps: true });
    try {
      const times = steps.states.map((_, s) => s / 4);
      const points = await expectTensorCount(() => trajectories(steps.states, times, labels, 10), 0, 'trajectories');
      expect(points).toHaveLength(17 * 10);
      expect(points[0]).toMatchObject({ token: '0 C', t: 0 });
      expect(points.at(-1)).toMatchObject({ token: '9 s', t: 4 });
      const mean = (f: (p: (typeof points)[number]) => number) => points.reduce((s, p) => s + f(p), 0) / points.length;
      const scale = mean((p) => p.pc1 ** 2);
      expect(Math.abs(mean((p) => p.pc1))).toBeLessThan(1e-4 * Math.sqrt(scale));
      expect(Math.abs(mean((p) => p.pc2))).toBeLessThan(1e-4 * Math.sqrt(scale));
      expect(Math.abs(mean((p) => p.pc1 * p.pc2))).toBeLessThan(1e-3 * scale);
      expect(mean((p) => p.pc1 ** 2)).toBeGreaterThanOrEqual(mean((p) => p.pc2 ** 2));
    } finally {
      steps.dispose();
    }
  });

  it('stateRows: the first sample, first tokens, every feature', async () => {
    const saved = solveStates(model, { inputIds }, { saveLayers: true });
    try {
      const rows = await expectTensorCount(() => stateRows(saved.states[1]!, 3), 0, 'stateRows');
      const all = (saved.states[1]!.values.arraySync() as number[][][])[0]!;
      expect(rows).toEqual(all.slice(0, 3));
      expect(stateRows(saved.states[1]!, 1000)).toHaveLength(ids.length);
    } finally {
      saved.dispose();
    }
  });

  it('measuredOrders: Lie converges with order ≈ 1; errors shrink with Δt; progress after each solve', async () => {
    const progress: string[] = [];
    const rows = await expectTensorCount(
      () => measuredOrders(model, { inputIds }, { onProgress: (l) => progress.push(l) }),
      0,
      'measuredOrders',
    );
    expect(progress).toHaveLength(1 + 16);
    expect(progress[0]).toBe('reference: rk4, 32 steps/layer');
    expect(progress[1]).toBe('lie, 2 steps/layer');
    expect(rows).toHaveLength(16);
    expect(rows.map((r) => r.scheme)).toEqual(['lie', 'strang', 'heun', 'rk4'].flatMap((s) => [s, s, s, s]));
    expect(rows.slice(0, 4).map((r) => r.dt)).toEqual([1 / 2, 1 / 4, 1 / 8, 1 / 16]);
    const order = (s: string) => rows.find((r) => r.scheme === s)!.order;
    // Measured here: lie 0.98, strang 1.15, heun 1.39, rk4 1.43 (θ(t) jumps at the layer boundaries).
    expect(order('lie')).toBeGreaterThan(0.8);
    expect(order('lie')).toBeLessThan(1.2);
    for (const s of ['strang', 'heun', 'rk4']) expect(order(s)).toBeGreaterThan(order('lie'));
    const lie = rows.filter((r) => r.scheme === 'lie').map((r) => r.error);
    lie.slice(1).forEach((e, i) => expect(e).toBeLessThan(lie[i]!));
    // Options: fewer schemes and steps, a smooth θ(t) passed through.
    const linear = measuredOrders(
      model,
      { inputIds },
      { schemes: ['rk4'], stepsPerLayer: [1, 2], referenceStepsPerLayer: 8, base: { schedule: 'linear' } },
    );
    expect(linear).toHaveLength(2);
    expect(linear[0]!.order).toBeGreaterThan(0);
  });

  it('runStudy, rebuilt on these analyses, leaves no tensors; its constraint rows pair before with after', async () => {
    const tokenizer = (await tokenizerFor(model.config))!;
    const study = await expectTensorCount(
      () => runStudy(model, tokenizer, { prompt: 'Call me', tokens: 2, title: 't', summary: [] }),
      0,
      'runStudy',
    );
    const { kernels, constraint, trajectories: points, refinement } = study.report;
    expect(kernels).toHaveLength(16);
    expect(constraint.map((c) => c.when)).toEqual(new Array(16).fill(0).map((_, i) => (i % 2 ? 'after' : 'before')));
    expect(points).toHaveLength(17 * 9);
    expect(refinement).toHaveLength(16);
  });

  it('bad inputs are typed errors and leave no tensors', async () => {
    const saved = solveStates(model, { inputIds }, { saveLayers: true });
    try {
      await expectTensorCount(() => {
        const few = thrownBy(() => layerKernels(model, saved.states.slice(0, 2), labels, 4));
        expect(few).toBeInstanceOf(InputError);
        expect((few as InputError).subject).toBe('layerKernels: states');
        expect(() => layerKernels(model, saved.states, labels.slice(0, 2), 4)).toThrow(InputError);
        expect(() => layerKernels(model, saved.states, labels, 0)).toThrow(InputError);
        expect(() => layerKernels(model, saved.states, labels, 2.5)).toThrow(InputError);
        expect(() => layerKernels({} as TransformerModel, saved.states, labels, 4)).toThrow(InputError);
        expect(() => kernelsAt(model, {} as Field, 0, labels, 4)).toThrow(InputError);
        expect(() => trajectories(saved.states, [0, 1], labels, 4)).toThrow(InputError);
        expect(() => trajectories([], [], labels, 4)).toThrow(InputError);
        expect(() => trajectories(saved.states, [0, 1, 2, 3, Number.NaN], labels, 4)).toThrow(InputError);
        expect(() => stateRows(saved.states[0]!, -1)).toThrow(InputError);
        expect(() => constraintDistances(model, { inputIds }, { scheme: 'rk4' })).toThrow(DiscretisationError);
        expect(() => constraintDistances(model, { inputIds }, { stepsPerLayer: 0 })).toThrow(DiscretisationError);
        expect(() => constraintDistances(model, {})).toThrow(InputError); // a language model needs ids
        expect(() => measuredOrders(model, { inputIds }, { schemes: ['exact'] })).toThrow(DiscretisationError);
        expect(() => measuredOrders(model, { inputIds }, { schemes: [] })).toThrow(DiscretisationError);
        expect(() => measuredOrders(model, { inputIds }, { stepsPerLayer: [4, 4] })).toThrow(DiscretisationError);
        expect(() => measuredOrders(model, { inputIds }, { stepsPerLayer: [2, 0.5] })).toThrow(DiscretisationError);
        expect(() => measuredOrders(model, { inputIds }, { referenceStepsPerLayer: 16 })).toThrow(DiscretisationError);
      }, 0);
      // A disposed state is refused, not read.
      const gone = solveStates(model, { inputIds }, { saveLayers: true });
      gone.dispose();
      const e = thrownBy(() => layerKernels(model, gone.states, labels, 4));
      expect(e).toBeInstanceOf(InputError);
      expect(e.message).toMatch(/disposed Field/);
    } finally {
      saved.dispose();
    }
  });
});

describeEachBackend('study analyses on PyTorch encoders', () => {
  const models: Record<string, TransformerModel> = {};
  const ios: Record<string, FixtureIO> = {};
  beforeAll(() => {
    for (const name of ['encoder-preln-gelu', 'encoder-postln-relu']) {
      models[name] = loadCheckpoint(fixtureDir(name));
      ios[name] = fixtureIO(name);
    }
  });
  afterAll(() => {
    for (const m of Object.values(models)) m.dispose();
    for (const io of Object.values(ios)) io.dispose();
  });
  const inputOf = (name: string): ForwardInput => {
    const io = ios[name]!;
    return { input: io.input!, ...(io.tokenWeights && { tokenWeights: io.tokenWeights }) };
  };

  it('pre-LN (causal): kernels integrate to 1 and match plain tfjs; kernelsAt(0) is layer 0; distances; orders', async () => {
    const name = 'encoder-preln-gelu';
    const model = models[name]!;
    const labels = tokenLabels(undefined, [0, 1, 2, 3, 4, 5, 6]);
    const saved = solveStates(model, inputOf(name), { saveLayers: true });
    try {
      const panels = await expectTensorCount(() => layerKernels(model, saved.states, labels, 7), 0);
      expect(panels).toHaveLength(2 * 4);
      for (const s of rowIntegrals(panels, new Array(7).fill(1))) expect(s).toBeCloseTo(1, 5);
      const first = tf.tidy(() => tf.slice(saved.states[0]!.values, [0, 0, 0], [1, 7, 16]));
      const reference = referenceKernel(model, first as tf.Tensor3D);
      first.dispose();
      panels
        .slice(0, 4)
        .forEach((p, h) =>
          p.gamma.forEach((row, k) =>
            row.forEach((g, l) => expect(Math.abs(g - reference[h]![k]![l]!)).toBeLessThan(2e-5)),
          ),
        );
      expect(kernelsAt(model, saved.states[0]!, 0, labels, 7)).toEqual(panels.slice(0, 4));
    } finally {
      saved.dispose();
    }
    const rows = constraintDistances(model, inputOf(name));
    expect(rows).toHaveLength(2 * 2 * 2);
    for (let i = 0; i < rows.length; i += 2) expect(rows[i + 1]!.distance).toBeLessThan(rows[i]!.distance / 100);
    const orders = await expectTensorCount(() => measuredOrders(model, inputOf(name)), 0);
    const order = (s: string) => orders.find((r) => r.scheme === s)!.order;
    // Measured here: lie 0.97, strang 1.97, heun 1.93, rk4 2.37 (its finest errors reach float32 round-off).
    expect(order('lie')).toBeGreaterThan(0.8);
    expect(order('lie')).toBeLessThan(1.2);
    for (const s of ['strang', 'heun']) {
      expect(order(s), s).toBeGreaterThan(1.6);
      expect(order(s), s).toBeLessThan(2.4);
    }
    expect(order('rk4')).toBeGreaterThan(1.8);
  });

  it('post-LN with padding: attention reads the state itself; Σ_l w_l γ = 1; the solver’s own P₁, P₂^{ε/4}', async () => {
    const name = 'encoder-postln-relu';
    const model = models[name]!;
    const weights = ios[name]!.tokenWeights![0]!;
    const labels = tokenLabels(undefined, [0, 1, 2, 3, 4, 5, 6]);
    const saved = solveStates(model, inputOf(name), { saveLayers: true });
    try {
      const panels = await expectTensorCount(() => layerKernels(model, saved.states, labels, 7), 0);
      expect(panels).toHaveLength(2 * 2);
      for (const s of rowIntegrals(panels, weights)) expect(s).toBeCloseTo(1, 5);
      for (const p of panels) p.gamma.forEach((row) => row.forEach((g, l) => weights[l] === 0 && expect(g).toBe(0)));
      expect(kernelsAt(model, saved.states[1]!, 1, labels, 7)).toEqual(panels.slice(2));
    } finally {
      saved.dispose();
    }
    const rows = await expectTensorCount(() => constraintDistances(model, inputOf(name)), 0);
    expect(rows.map((r) => r.step).filter((_, i) => i % 2 === 0)).toEqual([
      'layer 0 · P₁',
      'layer 0 · P₂',
      'layer 1 · P₁',
      'layer 1 · P₂',
    ]);
    for (let i = 0; i < rows.length; i += 2) expect(rows[i + 1]!.distance).toBeLessThan(rows[i]!.distance / 100);
    const e = thrownBy(() => measuredOrders(model, inputOf(name)));
    expect(e).toBeInstanceOf(DiscretisationError);
    expect((e as DiscretisationError).subject).toBe('measuredOrders: model');
  });
});
