import { expect, it } from 'vitest';
import { tf } from '@tide/backend';
import {
  convergenceOrder,
  describeEachBackend,
  expectClose,
  expectNoLeaks,
  expectTensorCount,
} from '@tide/backend/testing';
import {
  ShapeError,
  customGrid,
  field,
  gaussLegendreRule,
  interval,
  midpointRule,
  tokenGrid,
  type Field,
  type Grid,
} from '@tide/domain';
import {
  IntegralAttention,
  attentionKernel,
  attentionWeights,
  foldedValueMaps,
  integralAttention,
} from './integral-attention.js';
import type { AttentionParameters } from './parameters.js';
import {
  randomMatrix,
  randomReferenceParams,
  referenceAttention,
  seeded,
  toParams,
  type Matrix,
  type ReferenceParams,
} from './reference.fixture.js';

const next = seeded(42);
const D = 6;
const H = 2;
const ref: ReferenceParams = randomReferenceParams(D, next);

function disposeParams(p: AttentionParameters): void {
  tf.dispose(Object.values(p) as tf.Tensor[]);
}

/** B samples of N random tokens. */
function randomField(
  b: number,
  n: number,
  options: { grid?: Grid; weights?: number[][]; seed?: number } = {},
): { u: Field; x: Matrix[] } {
  const gen = seeded(options.seed ?? 1);
  const x = Array.from({ length: b }, () => randomMatrix(n, D, gen));
  const u = field(tf.tensor3d(x), {
    ...(options.grid && { tokenGrid: options.grid }),
    ...(options.weights && { tokenWeights: options.weights }),
  });
  return { u, x };
}

function weightsOf(u: Field, b: number): number[] {
  return Array.from(u.sampleTokenWeights(b));
}

describeEachBackend('integral attention', () => {
  it('agrees with the float64 reference: Gauss–Legendre tokens, padding, two heads, biases, causal or not', () => {
    const grid = gaussLegendreRule(interval(0, 3), 7);
    const pad = Array.from(grid.weights);
    pad[5] = 0;
    pad[6] = 0;
    const { u, x } = randomField(2, 7, { grid, weights: [Array.from(grid.weights), pad] });
    const params = toParams(ref);
    for (const causal of [false, true]) {
      const out = integralAttention(u, params, { heads: H, causal });
      const expected = x.map(
        (xb, b) =>
          referenceAttention(xb, xb, weightsOf(u, b), ref, H, {
            ...(causal && { allowed: (k: number, l: number) => l <= k }),
          }).out,
      );
      expectClose(out.values, expected, { atol: 2e-5, rtol: 1e-4 }, `causal=${causal}`);
      out.dispose();
    }
    disposeParams(params);
    u.dispose();
  });

  it('kernel rows integrate to 1 over Ω_x with the grid weights; padding and future keys have γ = 0', async () => {
    const grid = customGrid(interval(0, 2), [0.1, 0.3, 0.8, 1.5, 1.9], [0.2, 0.3, 0.6, 0.55, 0.35]);
    const { u } = randomField(2, 5, {
      grid,
      weights: [
        [0.2, 0.3, 0.6, 0.55, 0.35],
        [0.2, 0.3, 0.6, 0, 0],
      ],
    });
    const params = toParams(ref);
    for (const causal of [false, true]) {
      const gamma = await expectTensorCount(() => attentionKernel(u, params, { heads: H, causal }), 1);
      expect(gamma.shape).toEqual([2, H, 5, 5]);
      const w = u.tokenWeightTensor();
      const integral = tf.sum(tf.mul(gamma, tf.reshape(w, [2, 1, 1, 5])), -1);
      expectClose(integral, tf.ones([2, H, 5]), { atol: 1e-5, rtol: 0 });
      const g = (await gamma.array()) as number[][][][];
      for (let m = 0; m < H; m++)
        for (let k = 0; k < 5; k++) {
          expect(g[1]![m]![k]![3]).toBe(0);
          expect(g[1]![m]![k]![4]).toBe(0);
          if (causal) for (let l = k + 1; l < 5; l++) expect(g[0]![m]![k]![l]).toBe(0);
        }
      tf.dispose([gamma, w, integral]);
    }
    disposeParams(params);
    u.dispose();
  });

  it('outputs lie in the convex hull of V (one head, W^O = I): α ≥ 0 and rows of α sum to 1', async () => {
    const { u, x } = randomField(1, 9, { seed: 3 });
    const identity = Array.from({ length: D }, (_, i) => Array.from({ length: D }, (_, j) => (i === j ? 1 : 0)));
    const p1: ReferenceParams = { wq: ref.wq, wk: ref.wk, wv: ref.wv, wo: identity, bv: ref.bv };
    const params = toParams(p1);
    const out = (await integralAttention(u, params).values.array())[0]!;
    const v = x[0]!.map((row) => row.map((_, j) => row.reduce((s, xi, i) => s + xi * ref.wv[i]![j]!, ref.bv![j]!)));
    for (const row of out)
      for (let j = 0; j < D; j++) {
        const col = v.map((r) => r[j]!);
        expect(row[j]).toBeGreaterThanOrEqual(Math.min(...col) - 1e-5);
        expect(row[j]).toBeLessThanOrEqual(Math.max(...col) + 1e-5);
      }
    const alpha = attentionWeights(u, params);
    expect(tf.min(alpha).dataSync()[0]).toBeGreaterThanOrEqual(0);
    expectClose(tf.sum(alpha, -1), tf.ones([1, 1, 9]), { atol: 1e-6, rtol: 0 });
    tf.dispose([alpha]);
    disposeParams(params);
    u.dispose();
  });

  it('is permutation equivariant without positions (tokens and their weights permuted together)', async () => {
    const weights = [0.5, 1, 2, 0.25, 1.5, 0.75];
    const perm = [3, 0, 5, 1, 4, 2];
    const { u, x } = randomField(1, 6, { weights: [weights], seed: 5 });
    const permuted = field(tf.tensor3d([perm.map((i) => x[0]![i]!)]), { tokenWeights: [perm.map((i) => weights[i]!)] });
    const params = toParams(ref);
    const a = (await integralAttention(u, params, { heads: H }).values.array())[0]!;
    const b = integralAttention(permuted, params, { heads: H });
    expectClose(b.values, [perm.map((i) => a[i]!)], { atol: 1e-5, rtol: 1e-5 });
    tf.dispose([b.values, permuted.values]);
    disposeParams(params);
    u.dispose();
  });

  it('causal outputs depend only on the prefix', async () => {
    const { u, x } = randomField(1, 8, { seed: 6 });
    const changed = x[0]!.map((row, l) => (l > 4 ? row.map((v) => v + 10 * Math.sin(l + v)) : row));
    const v = field(tf.tensor3d([changed]));
    const params = toParams(ref);
    const a = (await integralAttention(u, params, { heads: H, causal: true }).values.array())[0]!;
    const b = (await integralAttention(v, params, { heads: H, causal: true }).values.array())[0]!;
    expectClose(b.slice(0, 5), a.slice(0, 5), { atol: 1e-6, rtol: 1e-6 });
    expect(Math.abs(b[7]![0]! - a[7]![0]!)).toBeGreaterThan(1e-3);
    disposeParams(params);
    u.dispose();
    v.dispose();
  });

  it('padding drops out exactly: a padded sequence equals its unpadded prefix on the real tokens', async () => {
    const { u, x } = randomField(1, 7, { weights: [[1, 1, 1, 1, 0, 0, 0]], seed: 8 });
    const short = field(tf.tensor3d([x[0]!.slice(0, 4)]));
    const params = toParams(ref);
    const a = (await integralAttention(u, params, { heads: H }).values.array())[0]!;
    const b = integralAttention(short, params, { heads: H });
    expectClose(b.values, [a.slice(0, 4)], { atol: 1e-6, rtol: 1e-6 });
    tf.dispose([b.values, short.values]);
    disposeParams(params);
    u.dispose();
  });

  it('the folded value maps reproduce the operator: A[u] = Σ_m α_m (u W^V_m + b^V_m) W^O_m + b^O', async () => {
    const { u } = randomField(1, 5, { seed: 9 });
    const params = toParams(ref);
    const folded = await expectTensorCount(() => foldedValueMaps(params, { heads: H }), 1); // [H, d, d]
    const alpha = attentionWeights(u, params, { heads: H }); // [1, H, N, N]
    const direct = tf.tidy(() => {
      let sum: tf.Tensor = tf.zeros([5, D]);
      for (let m = 0; m < H; m++) {
        const wom = tf.slice(params.wo, [m * 3, 0], [3, D]);
        const vm = tf.add(
          tf.matMul(tf.reshape(u.values, [5, D]), tf.squeeze(tf.slice(folded, [m, 0, 0], [1, D, D]), [0])),
          tf.matMul(tf.reshape(tf.slice(params.bv!, [m * 3], [3]), [1, 3]), wom),
        );
        sum = tf.add(sum, tf.matMul(tf.squeeze(tf.slice(alpha, [0, m, 0, 0], [1, 1, 5, 5]), [0, 1]), vm));
      }
      return tf.add(sum, params.bo!);
    });
    const out = integralAttention(u, params, { heads: H });
    expectClose(out.values, tf.reshape(direct, [1, 5, D]), { atol: 1e-5, rtol: 1e-5 });
    tf.dispose([folded, alpha, direct, out.values]);
    disposeParams(params);
    u.dispose();
  });

  it('gradients with respect to the field and every parameter match float64 finite differences', () => {
    const grid = gaussLegendreRule(interval(0, 2), 5);
    const { u, x } = randomField(1, 5, { grid, seed: 11 });
    const params = toParams(ref);
    const gen = seeded(99);
    const c = randomMatrix(5, D, gen); // loss = Σ c ⊙ A[u]
    const cT = tf.tensor3d([c]);
    const names = ['wq', 'wk', 'wv', 'wo', 'bq', 'bk', 'bv', 'bo'] as const;
    const loss = (xs: tf.Tensor, ...ps: tf.Tensor[]) => {
      const [wq, wk, wv, wo, bq, bk, bv, bo] = ps as [
        tf.Tensor2D,
        tf.Tensor2D,
        tf.Tensor2D,
        tf.Tensor2D,
        tf.Tensor1D,
        tf.Tensor1D,
        tf.Tensor1D,
        tf.Tensor1D,
      ];
      const p: AttentionParameters = { wq, wk, wv, wo, bq, bk, bv, bo };
      return tf.sum(
        tf.mul(integralAttention(u.withValues(xs as tf.Tensor3D), p, { heads: H, causal: true }).values, cT),
      );
    };
    const grads = tf.grads(loss)([u.values, ...names.map((n) => params[n]!)]);
    const refLoss = (xx: Matrix, p: ReferenceParams) => {
      const out = referenceAttention(xx, xx, Array.from(grid.weights), p, H, { allowed: (k, l) => l <= k }).out;
      return out.reduce((s, row, k) => s + row.reduce((t, v, j) => t + v * c[k]![j]!, 0), 0);
    };
    const eps = 1e-6;
    // Directional derivative along a random direction, per argument, against float64 central differences.
    const flat = (m: Matrix | number[]): number[] => (m as (number | number[])[]).flat();
    const shaped = (like: Matrix | number[], values: number[]): Matrix | number[] =>
      Array.isArray(like[0])
        ? (like as Matrix).map((row, i) => values.slice(i * row.length, (i + 1) * row.length))
        : values;
    const args: [string, Matrix | number[]][] = [
      ['x', x[0]!],
      ...names.map((n) => [n, ref[n]!] as [string, Matrix | number[]]),
    ];
    args.forEach(([name, value], i) => {
      const base = flat(value);
      const dir = base.map(() => gen());
      const at = (h: number) => {
        const moved = shaped(
          value,
          base.map((v, j) => v + h * dir[j]!),
        );
        return name === 'x' ? refLoss(moved as Matrix, ref) : refLoss(x[0]!, { ...ref, [name]: moved });
      };
      const fd = (at(eps) - at(-eps)) / (2 * eps);
      const g = grads[i]!.dataSync();
      const analytic = dir.reduce((s, d, j) => s + d * g[j]!, 0);
      expect(Math.abs(analytic - fd), `d/d${name}: analytic ${analytic}, finite difference ${fd}`).toBeLessThan(
        2e-3 * Math.max(1, Math.abs(fd)),
      );
    });
    tf.dispose([...grads, cT]);
    disposeParams(params);
    u.dispose();
  });

  it('leaves exactly its output: integralAttention, attentionKernel, attentionWeights, the operator and a gradient', async () => {
    const { u } = randomField(2, 4, {
      weights: [
        [1, 1, 1, 0],
        [1, 1, 1, 1],
      ],
    });
    const params = toParams(ref);
    await expectNoLeaks(() => integralAttention(u, params, { heads: H, causal: true }).values);
    await expectNoLeaks(() => attentionKernel(u, params, { heads: H }));
    await expectNoLeaks(() => attentionWeights(u, params, { heads: H, causal: true }));
    await expectNoLeaks(() => new IntegralAttention(params, { heads: H }).evaluate(u, 0).values);
    await expectNoLeaks(() =>
      tf.grad((xs: tf.Tensor) => tf.sum(integralAttention(u.withValues(xs), params, { heads: H }).values))(u.values),
    );
    disposeParams(params);
    u.dispose();
  });

  it('lists its trainable variables through the operator contract', () => {
    const vars = {
      wq: tf.variable(tf.tensor2d(ref.wq)),
      wk: tf.variable(tf.tensor2d(ref.wk)),
      wv: tf.variable(tf.tensor2d(ref.wv)),
      wo: tf.tensor2d(ref.wo),
    } as AttentionParameters;
    const op = new IntegralAttention(vars);
    expect(op.kind).toBe('vector-field');
    expect(op.parameters()).toHaveLength(3);
    tf.dispose(Object.values(vars) as tf.Tensor[]);
  });
});

describeEachBackend('integral attention: bad input', () => {
  it('names the offending parameter and every shape', () => {
    const { u } = randomField(1, 3);
    const params = toParams(ref);
    expect(() => integralAttention(tf.zeros([1, 3, D]) as never, params)).toThrow(/expected a Field/);
    expect(() => integralAttention(u, params, { heads: 4 })).toThrow(
      /widths divisible by heads = 4.*received wq \[6, 6\]/,
    );
    expect(() => integralAttention(u, params, { heads: 0 })).toThrow(ShapeError);
    const wrongRows = { ...params, wk: tf.zeros([5, D]) as tf.Tensor2D };
    expect(() => integralAttention(u, wrongRows)).toThrow(/wq, wk, wv with 6 rows.*wk \[5, 6\]/);
    const wrongBias = { ...params, bq: tf.zeros([4]) as tf.Tensor1D };
    expect(() => integralAttention(u, wrongBias)).toThrow(/bq: expected shape \[6\], received \[4\]/);
    expect(() => integralAttention(u, { ...params, wo: tf.zeros([3]) as never })).toThrow(/wo: expected a 2-D tensor/);
    expect(() => integralAttention(u, params, { scale: -1 })).toThrow(/scale/);
    expect(() => attentionKernel(u, null as never)).toThrow(ShapeError);
    tf.dispose([wrongRows.wk, wrongBias.bq]);
    disposeParams(params);
    u.dispose();
  });
});

// Convergence: on a smooth u(x) the discrete operator converges to the continuum operator as the token grid
// is refined, for uniform and Gauss–Legendre grids; without the weights it converges to the wrong limit.
describeEachBackend('integral attention: refinement of the token grid', () => {
  const omega = interval(0, 1);
  const d = 3;
  const gen = seeded(17);
  const p: ReferenceParams = {
    wq: randomMatrix(d, d, gen),
    wk: randomMatrix(d, d, gen),
    wv: randomMatrix(d, d, gen),
    wo: randomMatrix(d, d, gen),
  };
  const profile = (x: number) => [Math.sin(2 * Math.PI * x), Math.cos(3 * x), x * x - 0.5];
  const fine = gaussLegendreRule(omega, 96);
  const fineRows = Array.from(fine.points, profile);
  const continuum = (queries: Float64Array) =>
    referenceAttention(Array.from(queries, profile), fineRows, Array.from(fine.weights), p, 1).out;

  async function error(grid: Grid, unitWeights = false): Promise<number> {
    const u = field(tf.tensor3d([Array.from(grid.points, profile)]), {
      tokenGrid: grid,
      featureGrid: midpointRule(interval(0, d), d),
      ...(unitWeights && { tokenWeights: [new Array(grid.size).fill(1)] }),
    });
    const params = toParams(p);
    const out = integralAttention(u, params);
    const got = (await out.values.array())[0]!;
    const exact = continuum(grid.points);
    let worst = 0;
    got.forEach((row, k) => row.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - exact[k]![j]!)))));
    tf.dispose([out.values]);
    disposeParams(params);
    u.dispose();
    return worst;
  }

  it('converges with order 2 on the uniform midpoint grid', async () => {
    const ns = [6, 12, 24, 48, 96];
    const errors: number[] = [];
    for (const n of ns) errors.push(await error(midpointRule(omega, n)));
    const order = convergenceOrder(
      ns.map((n) => 1 / n),
      errors,
    );
    expect(order, `errors ${errors.join(', ')}`).toBeGreaterThan(1.8);
    expect(order).toBeLessThan(2.3);
  });

  it('converges spectrally on Gauss–Legendre grids (to float32 precision by N = 16)', async () => {
    const errors: number[] = [];
    for (const n of [4, 8, 16]) errors.push(await error(gaussLegendreRule(omega, n)));
    expect(errors[0]).toBeGreaterThan(errors[1]! * 10);
    expect(errors[2]).toBeLessThan(2e-5);
  });

  it('dropping the quadrature weights on a non-uniform grid converges to a measurably wrong limit', async () => {
    const right = await error(gaussLegendreRule(omega, 48));
    const wrong24 = await error(gaussLegendreRule(omega, 24), true);
    const wrong48 = await error(gaussLegendreRule(omega, 48), true);
    expect(right).toBeLessThan(2e-5);
    expect(wrong48).toBeGreaterThan(1e-2);
    expect(Math.abs(wrong48 - wrong24)).toBeLessThan(0.5 * wrong48); // it does not go away with refinement
  });

  it('a uniform weight cancels: midpoints of [0, 1] (w = 1/N) give the same operator as tokenGrid(N) (w = 1)', async () => {
    const n = 12;
    const rows = Array.from({ length: n }, (_, l) => profile((l + 0.5) / n));
    const featureDomain = midpointRule(interval(0, d), d);
    const a = field(tf.tensor3d([rows]), { tokenGrid: midpointRule(omega, n), featureGrid: featureDomain });
    const b = field(tf.tensor3d([rows]), { tokenGrid: tokenGrid(n), featureGrid: featureDomain });
    const params = toParams(p);
    const ya = integralAttention(a, params);
    const yb = integralAttention(b, params);
    expectClose(ya.values, yb.values, { atol: 1e-6, rtol: 1e-6 });
    expectClose(ya.values, [referenceAttention(rows, rows, new Array(n).fill(1), p, 1).out], {
      atol: 1e-5,
      rtol: 1e-5,
    });
    tf.dispose([a.values, b.values, ya.values, yb.values]);
    disposeParams(params);
  });
});
