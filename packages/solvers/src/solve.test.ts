import { describe, expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { convergenceOrder, describeEachBackend, expectClose, expectNoLeaks } from '@tide/backend/testing';
import { field, type Projection } from '@tide/domain';
import { SolverError } from './errors.js';
import { LinearField, expm, matMul, type Matrix } from './linear.fixture.js';
import { linearInterpolation, piecewiseConstant, scheduleFromFunction } from './schedule.js';
import { explicitEuler, heun, lieSplitting, parallelSplitting, rk4, strangSplitting, type Scheme } from './schemes.js';
import { solve } from './solve.js';
import { explicitStep, pointwiseStep, projectionStep, relaxationStep, semiImplicitStep } from './sub-steps.js';
import { timeGrid } from './time-grid.js';

const A: Matrix = [
  [0.2, 1.1, 0, -0.3],
  [-0.9, 0.1, 0.4, 0],
  [0, -0.5, -0.2, 0.8],
  [0.3, 0, -0.7, 0.1],
];
const B: Matrix = [
  [-0.4, 0, 0.6, 0],
  [0.2, -0.3, 0, 0.9],
  [-0.8, 0.1, 0.2, 0],
  [0, -0.6, 0.3, -0.1],
];
const u0rows = [
  [1, -0.5, 0.25, 2],
  [0.3, 0.8, -1.2, 0.4],
];
const T = 2;

function exact(): number[][] {
  const e = expm(A.map((r, i) => r.map((v, j) => T * (v + B[i]![j]!))));
  return matMul(u0rows, e);
}

function error(scheme: Scheme, dt: number): number {
  const u0 = field(tf.tensor3d([u0rows]));
  const sol = solve(u0, scheme, { t1: T, step: { dt } });
  const got = (sol.u.values.arraySync() as number[][][])[0]!;
  const want = exact();
  sol.dispose();
  u0.dispose();
  return Math.max(...got.flatMap((row, i) => row.map((v, j) => Math.abs(v - want[i]![j]!))));
}

describeEachBackend('measured orders on a linear problem (exact solution by the matrix exponential)', () => {
  const fa = new LinearField(A, 'A');
  const fb = new LinearField(B, 'B');
  const cases: [string, Scheme, number, number[]][] = [
    ['Lie', lieSplitting([explicitStep(fa), explicitStep(fb)]), 1, [1 / 8, 1 / 12, 1 / 16, 1 / 24, 1 / 32]],
    ['parallel', parallelSplitting([fa, fb]), 1, [1 / 8, 1 / 12, 1 / 16, 1 / 24, 1 / 32]],
    ['explicit Euler', explicitEuler([fa, fb]), 1, [1 / 8, 1 / 12, 1 / 16, 1 / 24, 1 / 32]],
    ['Strang', strangSplitting([fa, fb]), 2, [1 / 4, 1 / 6, 1 / 8, 1 / 12, 1 / 16]],
    ['Heun', heun([fa, fb]), 2, [1 / 4, 1 / 6, 1 / 8, 1 / 12, 1 / 16]],
    ['RK4', rk4([fa, fb]), 4, [1 / 2, 1 / 3, 1 / 4, 1 / 5, 1 / 6]],
  ];
  it.each(cases)('%s has its classical order within ±0.2', (_name, scheme, order, dts) => {
    const errors = dts.map((dt) => error(scheme, dt));
    const measured = convergenceOrder(dts, errors);
    expect(
      Math.abs(measured - order),
      `measured ${measured.toFixed(3)} from errors ${errors.map((e) => e.toExponential(2)).join(', ')}`,
    ).toBeLessThan(0.2);
  });
});

describeEachBackend('solve', () => {
  it('runs sub-steps in order: explicit, semi-implicit, relaxation, projection, pointwise', async () => {
    const identity = new LinearField(
      [
        [1, 0],
        [0, 1],
      ],
      'I',
    );
    const clampProjection: Projection = {
      kind: 'projection',
      label: 'clamp',
      project: (u) => u.withValues(tf.clipByValue(u.values, -1, 1)),
    };
    const scheme = lieSplitting([
      explicitStep(identity), // u1 = 2u
      semiImplicitStep(identity, clampProjection), // u2 = clamp(2 u1)
      relaxationStep([2, 0], [0.5, 0.5]), // u3 = ½(u2 + u0)
      projectionStep(clampProjection),
      pointwiseStep({ kind: 'pointwise', label: 'double', apply: (u) => u.withValues(tf.mul(u.values, 2)) }),
    ]);
    const u0 = field(tf.tensor3d([[[0.1, -0.4]]]));
    const sol = solve(u0, scheme, { t1: 1 });
    // u1 = [0.2, -0.8]; u2 = clamp([0.4, -1.6]) = [0.4, -1]; u3 = [0.25, -0.7]; ×2 = [0.5, -1.4]
    expectClose(sol.u.values, [[[0.5, -1.4]]], { atol: 1e-6, rtol: 0 });
    expect(sol.stats).toMatchObject({ steps: 1, subSteps: 5, fieldEvaluations: 2, projections: 2, pointwiseMaps: 1 });
    expect(sol.stats.byLabel).toEqual({ I: 2, clamp: 2, double: 1 });
    sol.dispose();
    u0.dispose();
  });

  it('saves the trajectory at step boundaries and leaves exactly the result and the saved states', async () => {
    const u0 = field(tf.tensor3d([u0rows]));
    const fa = new LinearField(A, 'A');
    const before = tf.memory().numTensors;
    const sol = solve(u0, rk4([fa]), { t1: 2, step: { stepsPerUnit: 2 }, saveAt: [0, 1, 2] });
    expect(sol.ts).toEqual([0, 1, 2]);
    expect(sol.states).toHaveLength(3);
    expect(tf.memory().numTensors - before).toBe(4);
    expectClose(sol.states[2]!.values, sol.u.values, { atol: 0, rtol: 0 });
    expectClose(sol.states[0]!.values, u0.values, { atol: 0, rtol: 0 });
    expect(sol.stats.steps).toBe(4);
    expect(sol.stats.fieldEvaluations).toBe(16);
    sol.dispose();
    expect(tf.memory().numTensors).toBe(before);
    const strang = strangSplitting([fa, new LinearField(B, 'B')]);
    await expectNoLeaks(() => solve(u0, strang, { t1: 1, step: { dt: 0.25 }, saveAt: 'steps' }).dispose());
    u0.dispose();
  });

  it('gradients flow through a solve for every scheme (against central differences)', () => {
    const fa = new LinearField(A, 'A');
    const fb = new LinearField(B, 'B');
    const schemes: Scheme[] = [
      lieSplitting([explicitStep(fa), explicitStep(fb), relaxationStep([2, 1])]),
      strangSplitting([fa, fb]),
      parallelSplitting([fa, fb]),
      explicitEuler([fa, fb]),
      heun([fa, fb]),
      rk4([fa, fb]),
    ];
    const u0 = field(tf.tensor3d([u0rows]));
    const c = tf.tensor3d([
      [
        [1, 2, -1, 0.5],
        [0.3, -0.2, 1, 1],
      ],
    ]);
    const dir = tf.tensor3d([
      [
        [0.5, -1, 0.2, 0.1],
        [1, 0.3, -0.4, 0.6],
      ],
    ]);
    for (const scheme of schemes) {
      const loss = (x: tf.Tensor) =>
        tf.tidy(() => {
          const sol = solve(u0.withValues(x as tf.Tensor3D), scheme, { t1: 1, step: { dt: 0.5 } });
          const l = tf.sum(tf.mul(tf.square(sol.u.values), c));
          sol.dispose();
          return l;
        });
      const g = tf.grad(loss)(u0.values);
      const h = 1e-2;
      const fd =
        (loss(tf.add(u0.values, tf.mul(dir, h))).dataSync()[0]! -
          loss(tf.sub(u0.values, tf.mul(dir, h))).dataSync()[0]!) /
        (2 * h);
      const analytic = tf.sum(tf.mul(g, dir)).dataSync()[0]!;
      expect(Math.abs(analytic - fd), scheme.name).toBeLessThan(1e-2 * Math.max(1, Math.abs(fd)));
      g.dispose();
    }
    tf.dispose([u0.values, c, dir]);
  });

  it('follows a parameter schedule θ(t): piecewise constant per layer, or linearly interpolated', async () => {
    // u_t = θ(t)·u on one feature: u(T) = u0·exp(∫θ).
    const pieces = [0.5, -0.25, 1];
    const scaled = (scale: (t: number) => number) => new LinearField([[1]], 'θ', scale);
    const u0 = field(tf.tensor3d([[[1]]]));
    const constant = piecewiseConstant(pieces);
    const sol = solve(u0, rk4([scheduleFromFunction(constant.span, (t) => scaled(() => constant.at(t)))]), {
      t1: 3,
      step: { stepsPerUnit: 8 },
    });
    expect(sol.u.values.dataSync()[0]).toBeCloseTo(Math.exp(0.5 - 0.25 + 1), 4);
    sol.dispose();
    const lin = linearInterpolation(pieces, (a, b, s) => (1 - s) * a + s * b);
    expect([lin.at(0), lin.at(0.5), lin.at(1), lin.at(1.5), lin.at(3)]).toEqual([0.5, 0.5, 0.125, -0.25, 1]);
    expect(constant.at(0.99)).toBe(0.5);
    expect(constant.at(1)).toBe(-0.25);
    expect(constant.at(3)).toBe(1);
    u0.dispose();
  });
});

describe('solve: bad input', () => {
  const u0 = field(tf.tensor3d([[[1, 2]]]));
  const fi = new LinearField(
    [
      [1, 0],
      [0, 1],
    ],
    'I',
  );
  it('refuses Δt ≤ 0, non-finite times and bad step counts', () => {
    expect(() => solve(u0, rk4([fi]), { t1: 1, step: { dt: 0 } })).toThrow(/expected a finite Δt > 0, received 0/);
    expect(() => solve(u0, rk4([fi]), { t1: 1, step: { dt: -0.5 } })).toThrow(SolverError);
    expect(() => solve(u0, rk4([fi]), { t1: NaN })).toThrow(/expected finite t0 and t1/);
    expect(() => solve(u0, rk4([fi]), { t1: Infinity })).toThrow(SolverError);
    expect(() => solve(u0, rk4([fi]), { t0: 2, t1: 1 })).toThrow(/expected t1 > t0, received \[2, 1\]/);
    expect(() => timeGrid(0, 1, { stepsPerUnit: 1.5 })).toThrow(/stepsPerUnit: expected an integer ≥ 1/);
  });

  it('refuses an empty scheme', () => {
    expect(() => lieSplitting([])).toThrow(/expected at least one sub-step or term/);
    expect(() => rk4([])).toThrow(SolverError);
    expect(() => solve(u0, { kind: 'splitting', name: 'x', subSteps: [] } as never, { t1: 1 })).toThrow(
      /an empty or malformed 'splitting' scheme/,
    );
    expect(() => solve(u0, {} as never, { t1: 1 })).toThrow(SolverError);
  });

  it('refuses a schedule that does not cover [t0, t1]', () => {
    const twoLayers = piecewiseConstant([fi, fi]);
    expect(() => solve(u0, lieSplitting([explicitStep(twoLayers)]), { t1: 3 })).toThrow(
      /expected a schedule covering the solve span \[0, 3\], received a schedule on \[0, 2\]/,
    );
  });

  it('refuses off-grid save times, bad relaxation stages and operators that break the contract', () => {
    expect(() => solve(u0, rk4([fi]), { t1: 1, step: { dt: 0.5 }, saveAt: [0.3] })).toThrow(
      /saveAt: expected times on the step grid/,
    );
    expect(() => solve(u0, lieSplitting([relaxationStep([1])]), { t1: 1 })).toThrow(/stage indices in 0…0/);
    const bad = { kind: 'vector-field', label: 'bad', evaluate: () => 42 } as never;
    expect(() => solve(u0, lieSplitting([explicitStep(bad)]), { t1: 1 })).toThrow(/operator "bad": expected a Field/);
    expect(() => solve(tf.ones([1, 1, 2]) as never, rk4([fi]), { t1: 1 })).toThrow(/expected a Field/);
  });

  it('a solve that fails in its second step leaves no tensors behind', () => {
    let calls = 0;
    const failsLater = {
      kind: 'vector-field',
      label: 'fails-later',
      evaluate: (u: never) => (++calls > 1 ? 42 : fi.evaluate(u, 0)),
    } as never;
    const before = tf.memory().numTensors;
    expect(() => solve(u0, lieSplitting([explicitStep(failsLater)]), { t1: 2, saveAt: 'steps' })).toThrow(
      /operator "fails-later"/,
    );
    expect(calls).toBe(2);
    expect(tf.memory().numTensors).toBe(before);
  });
});
