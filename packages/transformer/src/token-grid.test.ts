// The token quadrature as a discretisation choice (docs/domains-and-quadrature.md, "Running a model on another
// token quadrature"): 'uniform' and { resample: N } are the checkpoint, refining M converges to a fine reference,
// Gauss–Legendre is compared with the midpoint rule, nothing leaks, bad options are typed errors, and the budget
// counts the M points the solve runs on.
import { describe, expect, it } from 'vitest';
import { seededRandom, tf } from '@tide/backend';
import { closeness, describeEachBackend, expectNoLeaks, thrownBy } from '@tide/backend/testing';
import { fixtureDir, fixtureIO } from '@tide/fixtures';
import { BudgetError, estimateForward } from './budget.js';
import { DiscretisationError } from './errors.js';
import { forward, type ForwardInput } from './forward.js';
import { generate } from './generate.js';
import type { TransformerModel } from './model.js';
import { loadCheckpoint } from './node.js';
import { checkTokenGridOption, estimateOnTokenGrid, type TokenGridOption } from './token-grid.js';

const load = (name: string): TransformerModel => loadCheckpoint(fixtureDir(name));

/** `[B, N, d]` hidden states whose rows are smooth functions of x = (l + ½)/N: a few sines and cosines per feature. */
function smoothInput(batch: number, tokens: number, d: number, seed = 7): tf.Tensor3D {
  const next = seededRandom(seed);
  const coef = Array.from({ length: batch * d }, () =>
    Array.from({ length: 3 }, () => ({ a: 2 * next() - 1, b: 2 * next() - 1, c: 0.5 * (2 * next() - 1) })),
  );
  const data = new Float32Array(batch * tokens * d);
  for (let b = 0; b < batch; b++)
    for (let l = 0; l < tokens; l++) {
      const x = (l + 0.5) / tokens;
      for (let j = 0; j < d; j++) {
        let v = 0;
        coef[b * d + j]!.forEach(({ a, b: s, c }, k) => {
          v += a * Math.sin(Math.PI * (k + 1) * x + c) + 0.5 * s * Math.cos(2 * Math.PI * (k + 1) * x);
        });
        data[(b * tokens + l) * d + j] = v;
      }
    }
  return tf.tensor3d(data, [batch, tokens, d]);
}

/** The output of a forward run (the caller owns it). */
function run(model: TransformerModel, input: ForwardInput, tokenGrid?: TokenGridOption): tf.Tensor3D {
  const result = forward(model, input, tokenGrid === undefined ? {} : { tokenGrid });
  expect(result.states).toHaveLength(0);
  return result.output;
}

const maxAbs = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);

describeEachBackend('token grids: the same points give the checkpoint', () => {
  const cases: [string, (io: ReturnType<typeof fixtureIO>) => ForwardInput][] = [
    ['gpt2-tiny', (io) => ({ inputIds: io.inputIds! })],
    ['encoder-preln-gelu', (io) => ({ input: io.input! })],
    ['encoder-postln-1head', (io) => ({ input: io.input! })],
  ];
  const sameAsDefault: TokenGridOption[] = ['tokens', 'uniform'];

  it.each(cases)("%s: 'uniform' and { resample: N } (order 4 and 2) equal the default to 1e-5", (name, inputOf) => {
    const model = load(name);
    const io = fixtureIO(name);
    const input = inputOf(io);
    const n = (input.inputIds ?? input.input)!.shape[1];
    const reference = run(model, input);
    expect(reference.shape[1]).toBe(n);
    const grids: TokenGridOption[] = [
      ...sameAsDefault,
      { resample: n },
      { resample: n, order: 2 },
      { resample: n, rule: 'uniform', order: 4 },
    ];
    for (const grid of grids) {
      const output = run(model, input, grid);
      const report = closeness(output, reference, { atol: 1e-5, rtol: 1e-5 });
      expect(report.ok, `${name}, ${JSON.stringify(grid)}: ${report.reason}`).toBe(true);
      output.dispose();
    }
    reference.dispose();
    io.dispose();
    model.dispose();
  });

  it('generate passes the token grid through to each forward solve', () => {
    const model = load('gpt2-tiny');
    const prompt = [5, 9, 2, 7];
    const plain = generate(model, prompt, { maxNewTokens: 4 });
    expect(generate(model, prompt, { maxNewTokens: 4, tokenGrid: 'uniform' })).toEqual(plain);
    const resampled = generate(model, prompt, { maxNewTokens: 4, tokenGrid: { resample: 64, rule: 'gauss-legendre' } });
    expect(resampled).toHaveLength(4);
    const before = tf.memory().numTensors;
    generate(model, prompt, { maxNewTokens: 2, tokenGrid: 'gauss-legendre' });
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('the description names the grid; saved states live on the solve grid (Fields carry it)', () => {
    const model = load('encoder-preln-gelu');
    const io = fixtureIO('encoder-preln-gelu');
    const n = io.input!.shape[1];
    const plain = forward(model, { input: io.input! });
    expect(plain.description).not.toMatch(/token/);
    const r = forward(
      model,
      { input: io.input! },
      { tokenGrid: { resample: 24, rule: 'gauss-legendre' }, saveLayers: true },
    );
    expect(r.description).toMatch(/tokens on 24 Gauss–Legendre points of \[0, 1\] \(cubic interpolation\)$/);
    expect(r.output.shape).toEqual([io.input!.shape[0], n, model.config.dModel]);
    expect(r.states).toHaveLength(model.config.numLayers + 1);
    for (const s of r.states) {
      expect(s.tokens).toBe(24);
      expect(s.tokenGrid.rule).toBe('gauss-legendre');
      expect(s.tokenGrid.domain).toMatchObject({ lower: 0, upper: 1 });
    }
    const gl = forward(model, { input: io.input! }, { tokenGrid: 'gauss-legendre', saveLayers: true });
    expect(gl.states[0]!.tokens).toBe(n);
    expect(gl.states[0]!.tokenGrid.rule).toBe('gauss-legendre');
    tf.dispose([plain.output, r.output, gl.output]);
    for (const s of [...r.states, ...gl.states]) s.dispose();
    io.dispose();
    model.dispose();
  });

  it('leaves no tensors behind with any token grid (output and states disposed)', async () => {
    const model = load('gpt2-tiny');
    const io = fixtureIO('gpt2-tiny');
    const encoder = load('encoder-postln-1head');
    const x = smoothInput(2, 8, encoder.config.dModel);
    const grids: TokenGridOption[] = [
      'tokens',
      'uniform',
      'gauss-legendre',
      { resample: 1 },
      { resample: 5, order: 2 },
      { resample: 40, rule: 'gauss-legendre' },
    ];
    for (const tokenGrid of grids) {
      await expectNoLeaks(
        () => forward(model, { inputIds: io.inputIds! }, { tokenGrid, scheme: 'rk4', saveLayers: true }),
        `gpt2-tiny ${JSON.stringify(tokenGrid)}`,
      );
      await expectNoLeaks(() => forward(encoder, { input: x }, { tokenGrid }), `encoder ${JSON.stringify(tokenGrid)}`);
    }
    const before = tf.memory().numTensors;
    expect(() => forward(model, { inputIds: io.inputIds! }, { tokenGrid: { resample: 0 } })).toThrow(
      DiscretisationError,
    );
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(x);
    encoder.dispose();
    io.dispose();
    model.dispose();
  });
});

describeEachBackend('token grids: refining the token quadrature converges', () => {
  // N = 64 tokens sampled from a smooth u₀(x) (well resolved: at least 21 tokens per period); the solve on M = 8, 16,
  // 32 points (interpolated in and out, cubic) approaches a fine reference on 256 midpoints. What limits the error is
  // representing the state on M points (the output is interpolated back to the tokens), not the quadrature alone.
  it('encoder-postln-1head on a smooth u₀(x): errors fall monotonically for M = 8, 16, 32 (midpoints and Gauss–Legendre)', () => {
    const model = load('encoder-postln-1head');
    const n = 64;
    const x = smoothInput(2, n, model.config.dModel);
    const input = { input: x };
    const reference = run(model, input, { resample: 256 });
    const error = (grid: TokenGridOption) => {
      const out = run(model, input, grid);
      const e = maxAbs(out, reference);
      out.dispose();
      return e;
    };
    const ms = [8, 16, 32];
    const uniform = ms.map((m) => error({ resample: m }));
    const linear = ms.map((m) => error({ resample: m, order: 2 }));
    const gauss = ms.map((m) => error({ resample: m, rule: 'gauss-legendre' }));
    const atTokens = error('tokens');
    const glAtTokens = error('gauss-legendre');
    const referenceGaps = [error({ resample: 512 }), error({ resample: 128, rule: 'gauss-legendre' })];
    const scale = tf.tidy(() => tf.max(tf.abs(reference)).dataSync()[0]!);
    const fmt = (es: number[]) => es.map((e) => e.toExponential(2)).join(', ');
    console.log(
      `token grid convergence (N = ${n}, max|out| = ${scale.toFixed(2)}; max|Δ| to 256 midpoints at M = ${ms.join(', ')}):\n` +
        `  midpoints, cubic: ${fmt(uniform)}\n` +
        `  midpoints, linear: ${fmt(linear)}\n` +
        `  Gauss–Legendre, cubic: ${fmt(gauss)}\n` +
        `  at N = ${n}: 'tokens' (= 'uniform') ${atTokens.toExponential(2)}, 'gauss-legendre' ${glAtTokens.toExponential(2)}\n` +
        `  reference gaps: 512 midpoints ${referenceGaps[0]!.toExponential(2)}, 128 Gauss–Legendre ${referenceGaps[1]!.toExponential(2)}`,
    );
    for (let i = 1; i < ms.length; i++) {
      expect(uniform[i]!, `midpoints, M = ${ms[i]}`).toBeLessThan(uniform[i - 1]!);
      expect(linear[i]!, `midpoints (linear), M = ${ms[i]}`).toBeLessThan(linear[i - 1]!);
      expect(gauss[i]!, `Gauss–Legendre, M = ${ms[i]}`).toBeLessThan(gauss[i - 1]!);
    }
    expect(uniform[2]!).toBeLessThan(uniform[0]! / 10); // measured ≈ 50×
    expect(gauss[2]!).toBeLessThan(gauss[0]! / 5); // measured ≈ 10×
    // The reference is converged far below the errors it measures.
    expect(referenceGaps[0]!).toBeLessThan(uniform[2]! / 20);
    // Both rules at N points are close to the reference; Gauss–Legendre is not the better one here (its nodes are
    // sparser mid-domain and the state is interpolated back to the tokens), so no order between them is asserted.
    expect(atTokens).toBeLessThan(1e-2 * scale);
    expect(glAtTokens).toBeLessThan(2e-2 * scale);
    tf.dispose([x, reference]);
    model.dispose();
  });
});

describe('token grids: bad options and padding', () => {
  it('fills the defaults', () => {
    expect(checkTokenGridOption(undefined)).toEqual({ rule: 'tokens', points: undefined, order: 4, resamples: false });
    expect(checkTokenGridOption('uniform')).toEqual({ rule: 'uniform', points: undefined, order: 4, resamples: false });
    expect(checkTokenGridOption('gauss-legendre')).toMatchObject({ rule: 'gauss-legendre', resamples: true });
    expect(checkTokenGridOption({ resample: 4096 })).toEqual({
      rule: 'uniform',
      points: 4096,
      order: 4,
      resamples: true,
    });
    expect(checkTokenGridOption({ resample: 1, rule: 'gauss-legendre', order: 2 })).toEqual({
      rule: 'gauss-legendre',
      points: 1,
      order: 2,
      resamples: true,
    });
  });

  const refused: [string, unknown, RegExp][] = [
    [
      'an unknown string',
      'chebyshev',
      /^token grid: expected 'tokens', 'uniform', 'gauss-legendre' or \{ resample: M, rule\?, order\? \}, received "chebyshev"\. Fix: pass tokenGrid: /,
    ],
    ['a number', 32, /^token grid: expected 'tokens', .*, received 32\. Fix: /],
    ['null', null, /^token grid: expected 'tokens', .*, received null\./],
    [
      'a misspelt key',
      { points: 32 },
      /^token grid: expected \{ resample: M, rule\?, order\? \}, received the key\(s\) 'points'/,
    ],
    [
      'M = 0',
      { resample: 0 },
      /^token grid: resample: expected an integer number of points from 1 to 4096, received 0\./,
    ],
    ['M = 4097', { resample: 4097 }, /^token grid: resample: expected an integer .* from 1 to 4096, received 4097\./],
    ['M = 2.5', { resample: 2.5 }, /^token grid: resample: expected an integer .*, received 2\.5\./],
    ['M missing', { rule: 'gauss-legendre' }, /^token grid: resample: expected an integer .*, received undefined\./],
    ['M a string', { resample: '32' }, /^token grid: resample: expected an integer .*, received "32"/],
    [
      'a bad rule',
      { resample: 8, rule: 'trapezoid' },
      /^token grid: rule: expected 'uniform' \(midpoints\) or 'gauss-legendre', received "trapezoid"\./,
    ],
    [
      'order 3',
      { resample: 8, order: 3 },
      /^token grid: order: expected 2 \(linear\) or 4 \(cubic\) interpolation, received 3\. Fix: pass order: 4/,
    ],
  ];

  it.each(refused)('refuses %s with a DiscretisationError naming what it expected', (_, option, message) => {
    const error = thrownBy(() => checkTokenGridOption(option));
    expect(error).toBeInstanceOf(DiscretisationError);
    expect(error.message).toMatch(message);
    expect(error.message).toMatch(/Fix: /);
  });

  it('forward and generate check the option before anything is allocated', () => {
    const model = load('gpt2-tiny');
    const ids = tf.tensor2d([[1, 2, 3]], [1, 3], 'int32');
    const before = tf.memory().numTensors;
    expect(() => forward(model, { inputIds: ids }, { tokenGrid: 'chebyshev' as TokenGridOption })).toThrow(
      DiscretisationError,
    );
    expect(() => generate(model, [1, 2, 3], { maxNewTokens: 1, tokenGrid: { resample: -1 } })).toThrow(
      /token grid: resample: expected an integer number of points from 1 to 4096, received -1/,
    );
    expect(tf.memory().numTensors).toBe(before);
    ids.dispose();
    model.dispose();
  });

  it('refuses padding (tokenWeights) on any grid but the tokens', () => {
    const model = load('encoder-postln-relu');
    const io = fixtureIO('encoder-postln-relu');
    const x = io.input ?? smoothInput(2, 4, model.config.dModel);
    const [b, n] = x.shape;
    const tokenWeights =
      io.tokenWeights ?? Array.from({ length: b }, () => Array.from({ length: n }, (_, l) => (l < n - 1 ? 1 : 0)));
    const ok = forward(model, { input: x, tokenWeights });
    ok.output.dispose();
    for (const tokenGrid of ['uniform', 'gauss-legendre', { resample: 8 }] as TokenGridOption[]) {
      const error = thrownBy(() => forward(model, { input: x, tokenWeights }, { tokenGrid }));
      expect(error).toBeInstanceOf(DiscretisationError);
      expect(error.message).toMatch(
        /^token grid: expected an input without tokenWeights \(padding\) when tokenGrid is not 'tokens', received tokenWeights with tokens on .*\. Fix: run padded batches on the default token grid/,
      );
    }
    if (x !== io.input) x.dispose();
    io.dispose();
    model.dispose();
  });
});

describe('token grids: the budget counts the M points of the solve', () => {
  it('estimates at M (plus the interpolation) and refuses a work budget that only the default fits', () => {
    const model = load('gpt2-tiny');
    const dims = { batch: 1, tokens: 4 };
    const atTokens = estimateOnTokenGrid(model, dims, checkTokenGridOption('tokens'));
    expect(atTokens).toEqual(estimateForward(model, dims));
    expect(estimateOnTokenGrid(model, dims, checkTokenGridOption('uniform'))).toEqual(atTokens);
    const atM = estimateForward(model, { batch: 1, tokens: 512 });
    const resampled = estimateOnTokenGrid(model, dims, checkTokenGridOption({ resample: 512 }));
    expect(resampled.flops).toBeGreaterThan(atM.flops);
    expect(resampled.bytes).toBeGreaterThan(atM.bytes);
    expect(resampled.flops).toBeLessThan(1.01 * atM.flops);
    expect(resampled.attentionPath).toBe(atM.attentionPath);
    const ids = tf.tensor2d([[1, 2, 3, 4]], [1, 4], 'int32');
    const budget = { maxFlops: 2 * atTokens.flops };
    const ok = forward(model, { inputIds: ids }, { budget });
    ok.output.dispose();
    const before = tf.memory().numTensors;
    expect(() => forward(model, { inputIds: ids }, { budget, tokenGrid: { resample: 512 } })).toThrow(BudgetError);
    expect(() => forward(model, { inputIds: ids }, { budget, tokenGrid: { resample: 512 } })).toThrow(
      /forward: work budget/,
    );
    expect(tf.memory().numTensors).toBe(before);
    ids.dispose();
    model.dispose();
  });
});

describe('token grids: causality on a resampled grid (the documented caveat)', () => {
  it('gpt2-tiny: on the tokens a change of the last token moves no earlier logit; on a resampled grid the stencil sees it', () => {
    const model = load('gpt2-tiny');
    const a = tf.tensor2d([[5, 9, 2, 7, 3, 11, 4, 8]], [1, 8], 'int32');
    const b = tf.tensor2d([[5, 9, 2, 7, 3, 11, 4, 30]], [1, 8], 'int32');
    const earlier = (grid: TokenGridOption | undefined) => {
      const [x, y] = [a, b].map((ids) => run(model, { inputIds: ids }, grid));
      const gaps = tf.tidy(() => Array.from(tf.max(tf.abs(tf.sub(x!, y!)), [0, 2]).dataSync()).slice(0, 7)); // per earlier token
      tf.dispose([x!, y!]);
      return gaps;
    };
    expect(Math.max(...earlier(undefined))).toBe(0);
    expect(Math.max(...earlier('uniform'))).toBe(0);
    const fmt = (gaps: number[]) => gaps.map((g) => g.toExponential(1)).join(', ');
    const fine = earlier({ resample: 32 });
    const fineLinear = earlier({ resample: 32, order: 2 });
    const coarse = earlier({ resample: 4 });
    console.log(
      `causal look-ahead, max|Δ logits| at tokens 0…6 when token 7 changes: { resample: 32 } ${fmt(fine)}; ` +
        `order 2 ${fmt(fineLinear)}; { resample: 4 } ${fmt(coarse)}`,
    );
    // M ≥ N: up to order/2 tokens to the left see the change through the interpolation stencils.
    expect(fine.slice(0, 5)).toEqual([0, 0, 0, 0, 0]);
    expect(fine[5]!).toBeGreaterThan(0);
    expect(fineLinear.slice(0, 6)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(fineLinear[6]!).toBeGreaterThan(0);
    // M < N: the stencils span grid spacings of N/M tokens, so the change reaches further back.
    expect(coarse[3]!).toBeGreaterThan(0);
    tf.dispose([a, b]);
    model.dispose();
  });
});
