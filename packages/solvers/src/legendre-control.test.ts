// Smooth controls in a Legendre basis: the polynomials and their derivative Gram matrix against closed forms and
// quadrature, exactness on polynomial controls, the control energy against a hand formula, gradients reaching the
// coefficients (finite differences), a solve converging with RK4's order on u_t = u θ(t), typed errors, no leaks.
import { describe, expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { convergenceOrder, expectClose, expectNoLeaks, expectTensorCount, thrownBy } from '@tide/backend/testing';
import { field, gaussLegendreRule, interval, type Field, type VectorField } from '@tide/domain';
import { SolverError } from './errors.js';
import {
  fitLegendre,
  legendreControl,
  legendreControlEnergy,
  legendreDerivativeGram,
  legendreDerivatives,
  legendrePolynomials,
} from './legendre-control.js';
import { mapSchedule } from './schedule.js';
import { rk4 } from './schemes.js';
import { solve } from './solve.js';

/** A small tree of the shape of θ: a matrix and a vector. */
interface Theta {
  readonly w: tf.Tensor2D;
  readonly b: tf.Tensor1D;
}

/** θ(t) = a + b t + c t² + d t³ entrywise (each coefficient a Theta of plain numbers). */
const cubic = (coef: number[][], t: number) => coef.map(([a, b, c, d]) => a! + b! * t + c! * t * t + d! * t ** 3);
const W_COEF = [
  [0.3, -0.2, 0.15, 0.05],
  [-0.1, 0.4, -0.3, 0.02],
  [0.2, 0.1, 0.05, -0.04],
  [0.5, -0.3, 0.1, 0.01],
]; // the four entries of w (2×2)
const B_COEF = [
  [1, 0.5, -0.25, 0.125],
  [-0.5, 0.25, 0.2, -0.1],
]; // the two entries of b
const thetaAt = (t: number): Theta => ({
  w: tf.tensor2d(cubic(W_COEF, t), [2, 2]),
  b: tf.tensor1d(cubic(B_COEF, t)),
});
const disposeAll = (trees: readonly Theta[]) => tf.dispose(trees.flatMap((x) => [x.w, x.b]));

describe('Legendre polynomials on the host (float64)', () => {
  it('match P_2, P_3, P_4 and their derivatives in closed form', () => {
    for (const s of [-1, -0.7, 0, 0.3, 1]) {
      const p = legendrePolynomials(5, s);
      const dp = legendreDerivatives(5, s);
      expect(p[0]).toBe(1);
      expect(p[1]).toBe(s);
      expect(p[2]).toBeCloseTo((3 * s * s - 1) / 2, 14);
      expect(p[3]).toBeCloseTo((5 * s ** 3 - 3 * s) / 2, 14);
      expect(p[4]).toBeCloseTo((35 * s ** 4 - 30 * s * s + 3) / 8, 14);
      expect([...dp]).toEqual([
        0,
        1,
        expect.closeTo(3 * s, 13),
        expect.closeTo((15 * s * s - 3) / 2, 13),
        expect.closeTo((140 * s ** 3 - 60 * s) / 8, 13),
      ]);
    }
    expect(legendrePolynomials(0, 0.5)).toHaveLength(0);
  });

  it('the derivative Gram matrix ∫P_j′P_k′ equals min(j,k)(min(j,k)+1) for even j + k, by Gauss–Legendre quadrature', () => {
    const K = 9;
    const gram = legendreDerivativeGram(K);
    const rule = gaussLegendreRule(interval(-1, 1), K); // exact for degree 2K − 1 ≥ 2(K − 2)
    for (let j = 0; j < K; j++)
      for (let k = 0; k < K; k++) {
        let q = 0;
        for (let i = 0; i < rule.size; i++) {
          const d = legendreDerivatives(K, rule.points[i]!);
          q += rule.weights[i]! * d[j]! * d[k]!;
        }
        expect(gram[j * K + k], `M[${j}][${k}]`).toBeCloseTo(q, 10);
      }
    expect(gram[3 * K + 5]).toBe(12);
    expect(gram[2 * K + 3]).toBe(0);
  });
});

describe('legendreControl and fitLegendre', () => {
  const span = [0, 3] as const;

  it('reproduce polynomial controls exactly: fit a cubic from 4 samples (interpolation) or 7 (least squares)', () => {
    for (const n of [4, 7]) {
      const times = Array.from({ length: n }, (_, i) => (3 * (i + 0.5)) / n);
      const samples = times.map(thetaAt);
      const coefficients = fitLegendre({ times, values: samples }, 4, { span });
      expect(coefficients).toHaveLength(4);
      const theta = legendreControl(coefficients, { span });
      expect(theta.span).toEqual([0, 3]);
      for (const t of [0, 0.4, 1.5, 2.2, 3]) {
        const got = theta.at(t);
        const want = thetaAt(t);
        expectClose(got.w, want.w, { atol: 2e-6, rtol: 1e-5 }, `w at t = ${t} (n = ${n})`);
        expectClose(got.b, want.b, { atol: 2e-6, rtol: 1e-5 }, `b at t = ${t} (n = ${n})`);
        disposeAll([got, want]);
      }
      disposeAll([...samples, ...coefficients]);
    }
  });

  it('θ(t) = Σ c_k P_k(s) with s = 2(t − t0)/(t1 − t0) − 1; K = 1 is constant; t outside the span is clamped', () => {
    const c = [1, 2, 3].map((v) => tf.tensor1d([v, -v]));
    const theta = legendreControl(c, { span: [2, 6] });
    const s = 0.25; // t = 4.5
    const got = theta.at(4.5);
    expectClose(got, tf.tensor1d([1 + 2 * s + 3 * ((3 * s * s - 1) / 2), -(1 + 2 * s + 3 * ((3 * s * s - 1) / 2))]), {
      atol: 1e-6,
      rtol: 1e-6,
    });
    const beyond = theta.at(7);
    const end = theta.at(6);
    expectClose(beyond, end, { atol: 0, rtol: 0 });
    const constant = legendreControl([c[0]!], { span: [0, 1] }).at(0.3);
    expect(constant).not.toBe(c[0]); // a new tensor, owned by the caller
    expectClose(constant, c[0]!, { atol: 0, rtol: 0 });
    tf.dispose([...c, got, beyond, end, constant]);
  });

  it('the control energy ∫‖θ′‖²dt equals the hand formula for a cubic', () => {
    const T = 3;
    const times = [0.2, 1.1, 1.9, 2.8];
    const samples = times.map(thetaAt);
    const coefficients = fitLegendre({ times, values: samples }, 4, { span: [0, T] });
    // θ′ = b + 2ct + 3dt² entrywise: ∫₀ᵀ θ′² = b²T + 2bcT² + (4c² + 6bd)T³/3 + 3cdT⁴ + 9d²T⁵/5.
    const hand = [...W_COEF, ...B_COEF].reduce(
      (sum, [, b, c, d]) =>
        sum +
        b! * b! * T +
        2 * b! * c! * T ** 2 +
        ((4 * c! * c! + 6 * b! * d!) * T ** 3) / 3 +
        3 * c! * d! * T ** 4 +
        (9 * d! * d! * T ** 5) / 5,
      0,
    );
    const energy = legendreControlEnergy(coefficients, { span: [0, T] });
    expect(energy.shape).toEqual([]);
    expect(energy.dataSync()[0]).toBeCloseTo(hand, 3);
    expect(Math.abs(energy.dataSync()[0]! - hand) / hand).toBeLessThan(1e-5);
    // K = 1: a constant control has no energy; P_1 alone: θ′ = 2c₁/T, E = 4c₁²/T.
    const one = [tf.tensor1d([2]), tf.tensor1d([0.5])];
    const e1 = legendreControlEnergy(one, { span: [0, 4] });
    const e0 = legendreControlEnergy([one[0]!], { span: [0, 4] });
    expect(e1.dataSync()[0]).toBeCloseTo((4 * 0.25) / 4, 6);
    expect(e0.dataSync()[0]).toBe(0);
    disposeAll([...samples, ...coefficients]);
    tf.dispose([energy, e0, e1, ...one]);
  });

  it('gradients reach every coefficient: θ(t) and the energy against central finite differences', () => {
    const K = 3;
    const span = [0, 2] as const;
    const values = [0.4, -0.3, 0.8, 0.1, -0.6, 0.5];
    const c = Array.from({ length: K }, (_, k) => tf.tensor1d(values.map((v, i) => v * (k + 1) + 0.1 * i)));
    const probe = tf.tensor1d([0.7, -1.3, 0.4, 0.9, -0.2, 1.1]);
    const loss = (cs: tf.Tensor[]) =>
      tf.tidy(() => {
        const theta = legendreControl(cs, { span });
        const a = theta.at(0.37);
        const b = theta.at(1.6);
        return tf.add(
          tf.sum(tf.mul(tf.add(tf.mul(a, a), b), probe)),
          tf.mul(legendreControlEnergy(cs, { span }), 0.3),
        ) as tf.Scalar;
      });
    const grads = tf.grads((...cs: tf.Tensor[]) => loss(cs))(c);
    const h = 1e-2;
    for (let k = 0; k < K; k++) {
      const g = grads[k]!.dataSync();
      expect(Math.max(...[...g].map(Math.abs)), `coefficient ${k} gets a gradient`).toBeGreaterThan(1e-2);
      for (let i = 0; i < values.length; i++) {
        const shifted = (delta: number) => {
          const bump = tf.tidy(() => {
            const e = new Float32Array(values.length);
            e[i] = delta;
            return tf.add(c[k]!, tf.tensor1d(e));
          });
          const cs = c.map((x, j) => (j === k ? bump : x));
          const v = loss(cs);
          const out = v.dataSync()[0]!;
          tf.dispose([bump, v]);
          return out;
        };
        const fd = (shifted(h) - shifted(-h)) / (2 * h);
        expect(Math.abs(g[i]! - fd), `∂/∂c_${k}[${i}]: autodiff ${g[i]} vs finite differences ${fd}`).toBeLessThan(
          2e-3 * Math.max(1, Math.abs(fd)),
        );
      }
    }
    tf.dispose([...c, probe, ...grads]);
  });

  it('a solve of u_t = u θ(t) with θ a Legendre control converges with order 4 under RK4', () => {
    const T = 2;
    const K = 4;
    const c = Array.from({ length: K }, (_, k) =>
      tf.tensor2d([0.3 - 0.1 * k, 0.8 / (k + 1), -0.7 / (k + 1), 0.2 + 0.05 * k], [2, 2]),
    );
    const theta = legendreControl(c, { span: [0, T] });
    const rate = mapSchedule(theta, (m): VectorField => ({
      kind: 'vector-field',
      label: 'u θ(t)',
      evaluate: (u: Field) => u.withValues(tf.reshape(tf.matMul(tf.reshape(u.values, [-1, 2]), m), u.values.shape)),
    }));
    const u0 = field(tf.tensor3d([[[1, -0.5]]]));
    const run = (k: number) => solve(u0, rk4([rate]), { t1: T, step: { stepsPerUnit: k } }).u;
    const reference = run(64);
    const ks = [1, 2, 3, 4];
    const errors = ks.map((k) => {
      const u = run(k);
      const e = tf.tidy(() => tf.max(tf.abs(tf.sub(u.values, reference.values))).dataSync()[0]!);
      u.dispose();
      return e;
    });
    const order = convergenceOrder(
      ks.map((k) => 1 / k),
      errors,
    );
    expect(Math.abs(order - 4), `errors ${errors.join(', ')}: order ${order}`).toBeLessThan(0.5);
    tf.dispose([...c, u0.values, reference.values]);
  });

  it('leaves no tensors behind: values, energy, fit; and failures allocate nothing', async () => {
    const samples = [0.5, 1.5, 2.5].map(thetaAt);
    const times = [0.5, 1.5, 2.5];
    await expectNoLeaks(() => fitLegendre({ times, values: samples }, 3, { span }));
    const coefficients = fitLegendre({ times, values: samples }, 3, { span });
    const theta = legendreControl(coefficients, { span });
    await expectNoLeaks(() => theta.at(1.2));
    await expectNoLeaks(() => legendreControlEnergy(coefficients, { span }));
    await expectTensorCount(() => {
      const value = theta.at(0.1);
      disposeAll([value]);
    }, 0);
    await expectNoLeaks(() => {
      expect(() => fitLegendre({ times: [0.5, 0.5, 2.5], values: samples }, 3, { span })).toThrow(SolverError);
    });
    disposeAll([...samples, ...coefficients]);
  });

  it('refuses bad input with a SolverError that says what, what arrived and the fix', () => {
    const a = tf.tensor1d([1, 2]);
    const b = tf.tensor1d([1, 2, 3]);
    const i = tf.tensor1d([1, 2], 'int32');
    const cases: [() => unknown, RegExp][] = [
      [() => legendreControl([], { span }), /^legendreControl: coefficients: expected a non-empty array/],
      [
        () => legendreControl([a], { span: [1, 1] }),
        /^legendreControl: span: expected a finite interval \[t0, t1\] with t0 < t1, received \[1, 1\]/,
      ],
      [() => legendreControl([a], { span: [0, Infinity] }), /span: expected a finite interval/],
      [() => legendreControl([a], undefined as never), /span: expected a finite interval.*received undefined/],
      [
        () => legendreControl([{ x: a }, { x: b }], { span }),
        /^legendreControl: coefficient 1 at "x": expected a float32 tensor of shape \[2\] \(as coefficient 0\), received float32 \[3\]/,
      ],
      [
        () => legendreControl([{ x: a }, { y: a }], { span }),
        /^legendreControl: coefficient 1: expected the 1 paths of coefficient 0, received 1 paths \(missing "x"\)/,
      ],
      [() => legendreControl([i], { span }), /coefficient 0: expected float32 tensors, received dtype int32/],
      [() => legendreControl([a], { span }).at(NaN), /^legendreControl: t: expected a finite time/],
      [() => legendreControlEnergy([{}], { span }), /coefficient 0: expected a tree with at least one tensor/],
      [
        () => fitLegendre({ times: [1], values: [a] }, 2, { span }),
        /^fitLegendre: samples: expected \{ times, values \} of equal length ≥ K = 2/,
      ],
      [
        () => fitLegendre({ times: [1, 2], values: [a, a] }, 0, { span }),
        /^fitLegendre: coefficients: expected an integer K ≥ 1, received 0/,
      ],
      [
        () => fitLegendre({ times: [1, 4], values: [a, a] }, 2, { span }),
        /^fitLegendre: times: expected finite times in the span \[0, 3\], received 4/,
      ],
      [
        () => fitLegendre({ times: [1, 1], values: [a, a] }, 2, { span }),
        /^fitLegendre: times: expected at least 2 distinct times for 2 coefficients, received 2 time\(s\), 1 independent/,
      ],
      [
        () => fitLegendre({ times: [1, 2], values: [a, b] }, 2, { span }),
        /^fitLegendre: values: coefficient 1: expected a float32 tensor of shape \[2\]/,
      ],
    ];
    for (const [f, message] of cases) {
      const error = thrownBy(f);
      expect(error, message.source).toBeInstanceOf(SolverError);
      expect(error.message).toMatch(message);
      expect((error as SolverError).fix).toBeTruthy();
    }
    tf.dispose([a, b, i]);
  });
});
