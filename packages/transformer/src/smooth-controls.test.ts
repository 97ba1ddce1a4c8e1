// Models with smooth controls (docs/continuous-depth.md; docs/checkpoints.md, "Smooth controls"): θ(t) a Legendre
// control over [0, T] built from K coefficient sets. Refining Δt converges with each scheme's classical order
// (rk4 ≈ 4, Strang ≈ 2, Lie ≈ 1, measured on the logits), K = 1 is a network of T identical layers, checkpoints
// round-trip bit-exactly in the GPT-2 layout with tide_controls.{k}.*, cached generation equals uncached, options
// without meaning for smooth controls are refused with typed errors, and nothing leaks.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { flattenTree, seededRandom, tf, unflattenTree } from '@tide/backend';
import { convergenceOrder, describeEachBackend, expectClose, expectNoLeaks, thrownBy } from '@tide/backend/testing';
import { KeyValueCache } from '@tide/attention';
import { CheckpointError, gpt2KeyTable, keyTableShapes } from '@tide/formats';
import { estimateForward } from './budget.js';
import { parseConfig } from './checkpoint.js';
import { controlSchedule, discretise, type SchemeName } from './discretisation.js';
import { DiscretisationError } from './errors.js';
import { forward } from './forward.js';
import { generate } from './generate.js';
import { transformerModel, type ModelConfig, type ModelParameters, type TransformerModel } from './model.js';
import { loadCheckpoint, saveCheckpoint } from './node.js';
import { plainLayerStack } from './plain-layer-stack.js';

const work = mkdtempSync(join(tmpdir(), 'tide-smooth-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const BASE: ModelConfig = {
  layout: 'gpt2',
  dModel: 16,
  heads: 2,
  dFeedforward: 32,
  numLayers: 3,
  activation: 'gelu_new',
  normFirst: true,
  epsilon: 1e-5,
  causal: true,
  finalNorm: true,
  vocabSize: 11,
  positions: 16,
};

/**
 * A GPT-2-shaped model with smooth controls from seeded random coefficients: gains 1 + noise in c_0, kernels of
 * std `scale` (coefficient k scaled by 1/(k+1), so θ(t) varies smoothly and strongly enough that discretisation
 * errors stand above float32 rounding).
 */
function smoothModel(K: number, seed = 1, cfg: Partial<ModelConfig> = {}, scale = 0.15): TransformerModel {
  const config: ModelConfig = { ...BASE, ...cfg, controls: { basis: 'legendre', coefficients: K } };
  const shapes = keyTableShapes(
    gpt2KeyTable({
      layers: K,
      dModel: config.dModel,
      dFeedforward: config.dFeedforward,
      vocabSize: config.vocabSize!,
      positions: config.positions!,
    }),
  );
  shapes.delete('embeddings.head');
  const random = seededRandom(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const leaves = new Map<string, tf.Tensor>();
  for (const [path, shape] of shapes) {
    const k = path.startsWith('layers.') ? Number(path.split('.')[1]) : 0;
    const leaf = path.slice(path.lastIndexOf('.') + 1);
    const size = shape.reduce((a, b) => a * b, 1);
    const values = Float32Array.from({ length: size }, () => {
      if (leaf === 'gamma') return (k === 0 ? 1 : 0) + 0.1 * normal();
      if (leaf === 'beta' || /^b/.test(leaf)) return 0.05 * normal();
      return ((path.startsWith('embeddings') ? 1 : scale) * normal()) / (k + 1);
    });
    leaves.set(path, tf.tensor(values, shape));
  }
  return transformerModel(config, unflattenTree<ModelParameters>(leaves), `smooth K = ${K}`);
}

const ids = (n: number, V: number, seed = 1) => Array.from({ length: n }, (_, i) => (seed * 5 + i * 7 + i * i) % V);
const maxAbs = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);

describeEachBackend('smooth controls: refinement converges with the classical orders', () => {
  const cases: [SchemeName, number][] = [
    ['rk4', 4],
    ['strang', 2],
    ['lie', 1],
  ];
  it.each(cases)('%s: errors of the logits against RK4 at k = 32 give order %i (±0.5)', (scheme, order) => {
    const model = smoothModel(4, 7);
    const input = tf.tensor2d([ids(12, 11, 2), ids(12, 11, 3)], [2, 12], 'int32');
    const logits = (s: SchemeName, k: number) =>
      forward(model, { inputIds: input }, { scheme: s, stepsPerLayer: k }).output;
    // Every scheme converges to the same ODE solution: the reference is RK4 at k = 32, whose own error is far below
    // float32 rounding; RK4 at k = 64 against it measures that rounding (the floor).
    const reference = logits('rk4', 32);
    const finer = logits('rk4', 64);
    const floor = maxAbs(finer, reference);
    finer.dispose();
    const ks = [1, 2, 4, 8];
    const errors = ks.map((k) => {
      const out = logits(scheme, k);
      const e = maxAbs(out, reference);
      out.dispose();
      return e;
    });
    // The window: step counts whose error stands 10× above the floor. Kernels of std 0.15 make a smooth field (not
    // a stiff one); measured on wasm, floor ≈ 7e-6 (the logits after 3 × 64 RK4 steps): RK4's error at k = 8
    // (≈ 2e-5) is inside the floor's reach, so RK4's window is k = 1, 2, 4; Strang's and Lie's are k = 1…8.
    const window = ks.map((k, i) => [k, errors[i]!] as const).filter(([, e]) => e > 10 * floor);
    expect(window.length, `errors ${errors.join(', ')}, floor ${floor}`).toBeGreaterThanOrEqual(3);
    const measured = convergenceOrder(
      window.map(([k]) => 1 / k),
      window.map(([, e]) => e),
    );
    console.log(
      `smooth controls, ${scheme}: max |Δ logits| ${errors.map((e) => e.toExponential(2)).join(', ')} at k = ${ks.join(', ')} (floor ${floor.toExponential(1)}); order ${measured.toFixed(2)} over k = ${window.map(([k]) => k).join(', ')}`,
    );
    expect(Math.abs(measured - order), `${scheme}: measured ${measured}`).toBeLessThan(0.5);
    tf.dispose([input, reference]);
    model.dispose();
  });
});

describe('smooth controls: the model', () => {
  it('K = 1 is a network of T identical layers (c_0 in every layer), under every scheme', () => {
    const smooth = smoothModel(1, 3);
    const c0 = smooth.parameters.layers[0]!;
    const discrete = transformerModel(
      { ...smooth.config, controls: undefined },
      { ...smooth.parameters, layers: [c0, c0, c0] },
      'three copies of c_0',
    );
    const input = tf.tensor2d([ids(9, 11)], [1, 9], 'int32');
    for (const [scheme, k] of [
      ['lie', 1],
      ['rk4', 2],
      ['strang', 1],
    ] as const) {
      const a = forward(smooth, { inputIds: input }, { scheme, stepsPerLayer: k });
      const b = forward(discrete, { inputIds: input }, { scheme, stepsPerLayer: k });
      expect(a.description).toMatch(/θ\(t\) Legendre \(K = 1\)/);
      expectClose(a.output, b.output, { atol: 1e-5, rtol: 1e-5 }, `${scheme} k = ${k}`);
      tf.dispose([a.output, b.output]);
    }
    input.dispose();
    smooth.dispose();
  });

  it('θ(t) is the Legendre control over [0, T]: at t = T it is Σ c_k (P_k(1) = 1)', () => {
    const model = smoothModel(3, 4);
    const theta = controlSchedule(model)!;
    expect(theta.span).toEqual([0, 3]);
    const end = theta.at(3);
    const [c0, c1, c2] = model.parameters.layers;
    const sum = tf.tidy(() => tf.add(tf.add(c0!.feedforward.w1, c1!.feedforward.w1), c2!.feedforward.w1));
    expectClose(end.feedforward.w1, sum, { atol: 1e-6, rtol: 1e-6 });
    tf.dispose([...flattenTree(end).values(), sum]);
    const discrete = smoothModel(2, 1);
    expect(
      controlSchedule(transformerModel({ ...discrete.config, controls: undefined }, discrete.parameters, 'x')),
    ).toBe(undefined);
    discrete.dispose();
    model.dispose();
  });

  it('saves as GPT-2 with tide_controls.{k}.* and "tide_controls" in config.json; loads back bit-exactly', () => {
    const model = smoothModel(3, 5);
    const dir = join(work, 'smooth');
    saveCheckpoint(model, dir, { tide: { scheme: 'rk4', stepsPerLayer: 1 } });
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(cfg).toMatchObject({
      model_type: 'gpt2',
      n_layer: 3,
      tide_controls: { basis: 'legendre', coefficients: 3 },
      tide: { scheme: 'rk4', stepsPerLayer: 1 },
    });
    const header = readFileSync(join(dir, 'model.safetensors'));
    const keys = Object.keys(JSON.parse(header.subarray(8, 8 + Number(header.readBigUInt64LE(0))).toString()));
    expect(keys).toContain('tide_controls.0.attn.c_attn.weight');
    expect(keys).toContain('tide_controls.2.mlp.c_proj.bias');
    expect(keys.filter((k) => k.startsWith('h.'))).toEqual([]);
    expect(keys).toContain('wte.weight');
    expect(keys).toContain('ln_f.weight');
    const loaded = loadCheckpoint(dir);
    expect(loaded.config.controls).toEqual({ basis: 'legendre', coefficients: 3 });
    expect(loaded.config.numLayers).toBe(3);
    expect(loaded.parameters.layers).toHaveLength(3);
    const mine = flattenTree(model.parameters);
    for (const [path, t] of flattenTree(loaded.parameters)) expectClose(t, mine.get(path)!, { atol: 0, rtol: 0 }, path);
    const input = tf.tensor2d([ids(8, 11)], [1, 8], 'int32');
    const a = forward(model, { inputIds: input }, { scheme: 'rk4' }).output;
    const b = forward(loaded, { inputIds: input }, { scheme: 'rk4' }).output;
    expectClose(b, a, { atol: 0, rtol: 0 });
    tf.dispose([input, a, b]);
    // A loader that expects the plain GPT-2 layout fails loudly on the missing h.* keys.
    const plain = { ...cfg };
    delete plain.tide_controls;
    writeFileSync(join(dir, 'config.json'), JSON.stringify(plain));
    expect(() => loadCheckpoint(dir)).toThrow(
      /"h\.0\.ln_1\.weight": expected a tensor of shape \[16\] \(HF GPT-2 layout\), received no such key/,
    );
    loaded.dispose();
    model.dispose();
  });

  it('cached generation equals uncached generation (rk4 k = 2, Lie k = 3, Strang): the slots follow the evaluation order', () => {
    const model = smoothModel(3, 6);
    for (const options of [
      { scheme: 'rk4', stepsPerLayer: 2 },
      { scheme: 'lie', stepsPerLayer: 3 },
      { scheme: 'strang', stepsPerLayer: 1 },
    ] as const) {
      const prompt = ids(5, 11, 4);
      const cached = generate(model, prompt, { ...options, maxNewTokens: 14, temperature: 0.8, seed: 3 });
      const uncached = generate(model, prompt, {
        ...options,
        maxNewTokens: 14,
        temperature: 0.8,
        seed: 3,
        cache: false,
      });
      expect(cached, `${options.scheme}`).toEqual(uncached);
      // The incremental rows (a prompt, then single tokens) are the full solve's rows.
      const sequence = [...prompt, ...cached].slice(0, 16);
      const all = tf.tensor2d([sequence], [1, 16], 'int32');
      const full = forward(model, { inputIds: all }, options).output;
      const cache = new KeyValueCache();
      const rows = [forward(model, { inputIds: tf.tensor2d([prompt], [1, 5], 'int32') }, { ...options, cache }).output];
      for (let at = 5; at < 16; at++)
        rows.push(
          forward(model, { inputIds: tf.tensor2d([[sequence[at]!]], [1, 1], 'int32') }, { ...options, cache }).output,
        );
      const joined = tf.concat(rows, 1);
      expectClose(joined, full, { atol: 1e-5, rtol: 1e-5 }, `${options.scheme}: incremental rows`);
      cache.dispose();
      tf.dispose([all, full, joined, ...rows]);
    }
    model.dispose();
  });

  it('the budget counts the K coefficient sets: θ(t) work grows with K, the steps are T·k', () => {
    const small = smoothModel(2, 1);
    const large = smoothModel(8, 1);
    const dims = { batch: 2, tokens: 16 };
    const a = estimateForward(small, dims, { scheme: 'rk4', stepsPerLayer: 2 });
    const b = estimateForward(large, dims, { scheme: 'rk4', stepsPerLayer: 2 });
    expect(a.steps).toBe(6);
    expect(b.steps).toBe(6);
    const d = 16;
    const f = 32;
    const P = 4 * d * d + 4 * d + 2 * d * f + f + d + 4 * d;
    expect(b.flops - a.flops).toBe(6 * 8 * (8 - 2) * P);
    const discrete = transformerModel({ ...small.config, controls: undefined }, small.parameters, 'discrete');
    expect(a.flops - estimateForward(discrete, dims, { scheme: 'rk4', stepsPerLayer: 2 }).flops).toBe(6 * 8 * 2 * P);
    small.dispose();
    large.dispose();
  });

  it('leaves no tensors behind: forward, discretise, generate, gradients through θ(t)', async () => {
    const model = smoothModel(3, 2);
    const input = tf.tensor2d([ids(6, 11)], [1, 6], 'int32');
    await expectNoLeaks(() => forward(model, { inputIds: input }, { scheme: 'rk4', stepsPerLayer: 2 }).output);
    await expectNoLeaks(() => forward(model, { inputIds: input }, { scheme: 'lie', saveLayers: true }));
    await expectNoLeaks(() => discretise(model, { scheme: 'heun' }).dispose());
    await expectNoLeaks(() => generate(model, [1, 2], { scheme: 'rk4', maxNewTokens: 3 }));
    const c1 = model.parameters.layers[1]!.feedforward.w1;
    await expectNoLeaks(() =>
      tf.grad((w: tf.Tensor) => {
        const m = transformerModel(
          model.config,
          {
            ...model.parameters,
            layers: model.parameters.layers.map((l, k) =>
              k === 1 ? { ...l, feedforward: { ...l.feedforward, w1: w as tf.Tensor2D } } : l,
            ),
          },
          'grad',
        );
        return tf.sum(forward(m, { inputIds: input }, { scheme: 'rk4' }).output);
      })(c1),
    );
    const g = tf.grad((w: tf.Tensor) => {
      const m = transformerModel(
        model.config,
        {
          ...model.parameters,
          layers: model.parameters.layers.map((l, k) =>
            k === 2 ? { ...l, norm1: { ...l.norm1, gamma: w as tf.Tensor1D } } : l,
          ),
        },
        'grad',
      );
      return tf.sum(tf.square(forward(m, { inputIds: input }, { scheme: 'rk4' }).output));
    })(model.parameters.layers[2]!.norm1.gamma);
    expect(tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0]!)).toBeGreaterThan(0); // the gradient reaches c_2
    tf.dispose([input, g]);
    model.dispose();
  });
});

describe('smooth controls: refused with typed errors', () => {
  it('scheme exact and schedule linear have no meaning: DiscretisationError whose fix names rk4 (discretise, forward, budget, generate)', () => {
    const model = smoothModel(2, 1);
    const input = tf.tensor2d([[1, 2, 3]], [1, 3], 'int32');
    const exact = thrownBy(() => discretise(model, { scheme: 'exact' }));
    expect(exact).toBeInstanceOf(DiscretisationError);
    expect(exact.message).toMatch(
      /^scheme exact: expected a time-stepping scheme for smooth controls θ\(t\) .*Fix: use --scheme rk4/,
    );
    const linear = thrownBy(() => forward(model, { inputIds: input }, { scheme: 'rk4', schedule: 'linear' }));
    expect(linear).toBeInstanceOf(DiscretisationError);
    expect(linear.message).toMatch(
      /^schedule linear: expected θ\(t\) from the model's 2 Legendre coefficients .*--scheme rk4/,
    );
    expect(() => estimateForward(model, { batch: 1, tokens: 3 }, { scheme: 'exact' })).toThrow(DiscretisationError);
    expect(() => generate(model, [1], { scheme: 'exact' })).toThrow(/scheme exact/);
    expect(() => plainLayerStack(model, { inputIds: input })).toThrow(
      /plainLayerStack: expected a discrete network .*Fix: .*rk4/,
    );
    const short = transformerModel(
      { ...model.config, controls: { basis: 'legendre', coefficients: 3 } },
      model.parameters,
      'short',
    );
    expect(() => discretise(short, { scheme: 'rk4' })).toThrow(
      /short: smooth controls: expected 3 Legendre coefficient sets in parameters\.layers \(config\.controls\), received 2/,
    );
    input.dispose();
    model.dispose();
  });

  it('malformed "tide_controls" in config.json is a CheckpointError', () => {
    const gpt2 = { model_type: 'gpt2', n_embd: 16, n_head: 2, n_layer: 3, n_positions: 16, vocab_size: 11 };
    expect(parseConfig({ ...gpt2, tide_controls: { basis: 'legendre', coefficients: 64 } }).controls).toEqual({
      basis: 'legendre',
      coefficients: 64,
    });
    expect(parseConfig(gpt2).controls).toBeUndefined();
    for (const bad of [
      { basis: 'legendre', coefficients: 0 },
      { basis: 'legendre', coefficients: 65 },
      { basis: 'legendre', coefficients: 2.5 },
      { basis: 'legendre' },
      { basis: 'chebyshev', coefficients: 4 },
      'legendre:4',
      null,
      [4],
    ]) {
      const error = thrownBy(() => parseConfig({ ...gpt2, tide_controls: bad }, 'cfg.json'));
      expect(error, JSON.stringify(bad)).toBeInstanceOf(CheckpointError);
      expect(error.message).toMatch(
        /^cfg\.json: "tide_controls": expected \{ "basis": "legendre", "coefficients": K \} with K an integer from 1 to 64/,
      );
    }
    expect(() =>
      parseConfig({
        format: 'torch-transformer-encoder',
        d_model: 4,
        nhead: 1,
        num_layers: 1,
        tide_controls: { basis: 'legendre', coefficients: 2 },
      }),
    ).toThrow(/"tide_controls": expected smooth controls only in the GPT-2 layout/);
  });
});
