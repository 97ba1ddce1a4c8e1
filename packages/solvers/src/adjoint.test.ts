// The continuous adjoint (`gradients: { method: 'adjoint' }`): not the discrete gradient but the ODE's, so its
// distance to the tape's gradient shrinks like Δt^p (measured orders), for u0 and for the parameters, from
// checkpoints or integrating u backwards; it leaks nothing, and it refuses schemes without a rate.
import { afterAll, describe, expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { convergenceOrder, describeEachBackend, expectClose, expectNoLeaks, thrownBy } from '@tide/backend/testing';
import { field, type Field } from '@tide/domain';
import { dormandPrince } from './embedded-runge-kutta.js';
import { SolverError } from './errors.js';
import type { AdjointStates } from './gradient-mode.js';
import { TanhField, gradientsOf, relativeDifferences } from './gradients.fixture.js';
import { LinearField, expm } from './linear.fixture.js';
import { explicitEuler, heun, lieSplitting, rk4, strangSplitting, type Scheme } from './schemes.js';
import { solve } from './solve.js';
import { stepDoubling } from './step-doubling.js';
import { explicitStep } from './sub-steps.js';

const A = [
  [-0.2, 0.9, 0, -0.3],
  [-0.9, -0.1, 0.4, 0],
  [0, -0.5, -0.2, 0.8],
  [0.3, 0, -0.7, -0.1],
];
const T = 2;

function problem(): { u0: Field; c: tf.Tensor } {
  return {
    u0: field(tf.randomNormal([2, 3, 4], 0, 0.5, 'float32', 5) as tf.Tensor3D),
    c: tf.randomNormal([2, 3, 4], 0, 1, 'float32', 6),
  };
}

describeEachBackend('continuous adjoint', (backend) => {
  const f = TanhField.random(4, 6, 51, 'F', 0.5);
  const lin = new LinearField(A, 'A');
  const params = [...f.params, lin.m];

  /** The adjoint's gradients (u0 and parameters) relative to the tape's, at step dt. */
  function distance(scheme: Scheme, dt: number, states: AdjointStates): number[] {
    const { u0, c } = problem();
    const options = { t1: T, step: { dt } } as const;
    const tape = gradientsOf(scheme, u0, params, c, options);
    const adjoint = gradientsOf(scheme, u0, params, c, {
      ...options,
      gradients: { method: 'adjoint', params, states },
    });
    const d = relativeDifferences(adjoint, tape);
    tf.dispose([...tape, ...adjoint, u0.values, c]);
    return [d[0]!, Math.max(...d.slice(1))];
  }

  const cases: [string, Scheme, number, number[]][] = [
    ['explicit Euler', explicitEuler([f, lin]), 1, [1 / 8, 1 / 12, 1 / 16, 1 / 24, 1 / 32]],
    ['Heun', heun([f, lin]), 2, [1 / 4, 1 / 6, 1 / 8, 1 / 12, 1 / 16]],
    ['RK4', rk4([f, lin]), 4, [1 / 2, 1 / 3, 1 / 4, 1 / 5, 1 / 6]],
  ];
  for (const states of ['checkpoints', 'backward'] as const) {
    it.each(cases)(`%s, from ${states}: |adjoint − tape| = O(Δt^p) (u0 and parameters)`, (name, scheme, p, dts) => {
      const d = dts.map((dt) => distance(scheme, dt, states));
      for (const which of [0, 1]) {
        const errors = d.map((x) => x[which]!);
        const order = convergenceOrder(dts, errors);
        // At least p (Heun's leading terms cancel: the discrete and the continuous adjoint differ by ≈ Δt³).
        expect(order, `${name} ${which === 0 ? 'u0' : 'θ'} [${backend}]: ${errors.join(', ')}`).toBeGreaterThan(
          p - 0.3,
        );
      }
    });
  }

  it('converges to the exact gradient of the flow: u_t = u A, ∂/∂u0 Σ c ⊙ u(T) = c exp(T A)ᵀ', () => {
    const rows = [
      [1, -0.5, 0.25, 2],
      [0.3, 0.8, -1.2, 0.4],
    ];
    const cRows = [
      [0.5, 1, -1, 0.2],
      [-0.3, 0.1, 0.7, 1],
    ];
    const E = expm(A.map((r) => r.map((v) => T * v)));
    const exact = cRows.map((r) => E.map((er) => er.reduce((s, v, j) => s + v * r[j]!, 0))); // c Eᵀ
    const u0 = field(tf.tensor3d([rows]));
    const c = tf.tensor3d([cRows]);
    const linOnly = new LinearField(A, 'A');
    const grad = tf.grad((x: tf.Tensor) =>
      tf.tidy(() => {
        const sol = solve(u0.withValues(x), rk4([linOnly]), { t1: T, step: { dt: 0.1 }, gradients: 'adjoint' });
        const l = tf.sum(tf.mul(sol.u.values, c));
        sol.dispose();
        return l;
      }),
    )(u0.values);
    expectClose(grad, [exact], { atol: 2e-5, rtol: 2e-5 });
    tf.dispose([grad, u0.values, c, linOnly.m]);
  });

  it('DP5 on a fixed grid: within 1e-4 of the tape at Δt = 1/4', () => {
    const [du, dp] = distance(dormandPrince([f, lin]), 0.25, 'checkpoints');
    expect(Math.max(du!, dp!)).toBeLessThan(1e-4);
  });

  it('leaves no tensors behind', async () => {
    const { u0, c } = problem();
    for (const states of ['checkpoints', 'backward'] as const) {
      const options = {
        t1: 1,
        step: { dt: 0.25 },
        saveAt: [0.5],
        gradients: { method: 'adjoint', params, states },
      } as const;
      await expectNoLeaks(() => gradientsOf(rk4([f, lin]), u0, params, c, options));
      await expectNoLeaks(() => solve(u0, rk4([f, lin]), options).dispose());
    }
    tf.dispose([u0.values, c]);
  });

  afterAll(() => {
    f.dispose();
    lin.m.dispose();
  });
});

describe('continuous adjoint: bad input', () => {
  const u0 = field(tf.tensor3d([[[1, 2]]]));
  const fi = new LinearField(
    [
      [0.5, 0],
      [0, 0.5],
    ],
    'I',
  );
  it('refuses a scheme without a rate, and bad states', () => {
    for (const scheme of [lieSplitting([explicitStep(fi)]), strangSplitting([fi]), stepDoubling(rk4([fi]))]) {
      const e = thrownBy(() => solve(u0, scheme, { t1: 1, gradients: 'adjoint' })) as SolverError;
      expect(e).toBeInstanceOf(SolverError);
      expect(e.expected).toMatch(/a Runge–Kutta scheme/);
      expect(e.fix).toMatch(/method 'checkpoint'/);
    }
    expect(() => solve(u0, rk4([fi]), { t1: 1, gradients: { method: 'adjoint', states: 'reverse' } as never })).toThrow(
      /gradients.states: expected 'checkpoints' or 'backward', received "reverse"/,
    );
    expect(() =>
      solve(u0, dormandPrince([fi]), { t1: 1, step: { rtol: 1e-3, atol: 1e-6 }, gradients: 'adjoint' }),
    ).toThrow(/expected a fixed step/);
  });
});
