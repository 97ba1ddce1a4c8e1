// Memory-light gradients: `gradients: { method: 'checkpoint', params }` gives tfjs's own gradients (u0 and
// parameters, every scheme kind, saved states, schedules, variables), leaks nothing, keeps the forward as it was,
// costs one more forward pass, and needs far less peak memory than the tape over 64 steps.
import { afterAll, describe, expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { describeEachBackend, expectNoLeaks, peakBytesOf, thrownBy } from '@tide/backend/testing';
import { field, type Field, type VectorField } from '@tide/domain';
import { dormandPrince } from './embedded-runge-kutta.js';
import { SolverError } from './errors.js';
import type { GradientMode } from './gradient-mode.js';
import { TanhField, gradientsOf, lossThrough, relativeDifferences, rmsProjection } from './gradients.fixture.js';
import { LinearField } from './linear.fixture.js';
import { piecewiseConstant } from './schedule.js';
import { heun, lieSplitting, parallelSplitting, rk4, strangSplitting, type Scheme } from './schemes.js';
import { solve } from './solve.js';
import { stepDoubling } from './step-doubling.js';
import { explicitStep, projectionStep, relaxationStep, semiImplicitStep } from './sub-steps.js';

const A = [
  [0.2, 1.1, 0, -0.3],
  [-0.9, 0.1, 0.4, 0],
  [0, -0.5, -0.2, 0.8],
  [0.3, 0, -0.7, 0.1],
];

/** u0 [2, 3, 4] and the loss weights c, fixed by seeds. */
function problem(): { u0: Field; c: tf.Tensor } {
  return {
    u0: field(tf.randomNormal([2, 3, 4], 0, 1, 'float32', 7) as tf.Tensor3D),
    c: tf.randomNormal([2, 3, 4], 0, 1, 'float32', 8),
  };
}

describeEachBackend('checkpointed gradients', (backend) => {
  const f = TanhField.random(4, 6, 11, 'F');
  const g = TanhField.random(4, 5, 21, 'G');
  const lin = new LinearField(A, 'A', () => 0.5);
  const params = [...f.params, ...g.params, lin.m];
  const [pf, pg, pl] = [f.params, g.params, [lin.m]];
  const cases: [string, Scheme, tf.Tensor[]][] = [
    ['Lie', lieSplitting([explicitStep(f), explicitStep(g), relaxationStep([2, 0])]), [...pf, ...pg]],
    ['Strang', strangSplitting([f, g, lin]), [...pf, ...pg, ...pl]],
    ['RK4', rk4([f, g, lin]), [...pf, ...pg, ...pl]],
    [
      'Lie with projections (pre-LN-like)',
      lieSplitting([
        explicitStep(f),
        projectionStep(rmsProjection(0.1)),
        semiImplicitStep(g, rmsProjection(0.2)),
        explicitStep(lin),
        relaxationStep([4, 1], [0.5, 0.5]),
        projectionStep(rmsProjection(0.05)),
      ]),
      [...pf, ...pg, ...pl],
    ],
    ['parallel', parallelSplitting([f, g]), [...pf, ...pg]],
    ['Heun', heun([f, lin]), [...pf, ...pl]],
    ['DP5 (fixed grid)', dormandPrince([f, g]), [...pf, ...pg]],
    ['step doubling of Strang (fixed grid)', stepDoubling(strangSplitting([f, g])), [...pf, ...pg]],
  ];

  it.each(cases)('%s: gradients (u0 and parameters) equal the tape to 1e-5 relative', (name, scheme, params) => {
    const { u0, c } = problem();
    const options = { t1: 2, step: { dt: 0.25 } } as const;
    const tape = gradientsOf(scheme, u0, params, c, options);
    const light = gradientsOf(scheme, u0, params, c, { ...options, gradients: { method: 'checkpoint', params } });
    const diffs = relativeDifferences(light, tape);
    expect(Math.max(...diffs), `${name} [${backend}]: ${diffs.map((d) => d.toExponential(1)).join(', ')}`).toBeLessThan(
      1e-5,
    );
    tf.dispose([...tape, ...light, u0.values, c]);
  });

  it('keeps the forward pass: the same states, statistics and sub-step reports', () => {
    const { u0, c } = problem();
    const scheme = lieSplitting([explicitStep(f), projectionStep(rmsProjection()), explicitStep(lin)]);
    const run = (gradients: 'tape' | 'checkpoint') => {
      const seen: string[] = [];
      let stats: unknown;
      let out: number[] = [];
      tf.grad((x: tf.Tensor) => {
        const sol = solve(u0.withValues(x), scheme, {
          t1: 1,
          step: { dt: 0.25 },
          saveAt: [0.5],
          gradients: gradients === 'tape' ? gradients : { method: gradients, params },
          onSubStep: ({ step, subStep, kind }) => seen.push(`${step}.${subStep}.${kind}`),
        });
        stats = sol.stats;
        out = [...sol.u.values.dataSync(), ...sol.states[0]!.values.dataSync()];
        const l = tf.sum(tf.mul(sol.u.values, c));
        sol.dispose();
        return l;
      })(u0.values).dispose();
      return { seen, stats, out };
    };
    const tape = run('tape');
    const light = run('checkpoint');
    expect(light.out).toEqual(tape.out); // bit for bit
    expect(light.stats).toEqual(tape.stats); // the backward recomputation is not counted
    expect(light.seen).toEqual(tape.seen);
    expect(light.seen).toHaveLength(12);
    // The test-mode leak heuristic, switched off while a checkpointed operation runs, is back on.
    expect(tf.env().getBool('IS_TEST')).toBe(true);
    tf.dispose([u0.values, c]);
  });

  it('works with tf.variableGrads, tf.valueAndGrads and tf.grad, and through saved states and a schedule', () => {
    // Three "layers" of F on [0, 3), piecewise constant: each step reads one layer's parameters only.
    const layers = [0, 1, 2].map((i) => TanhField.random(4, 6, 100 + 10 * i, `layer ${i}`));
    const vars = layers.map(
      (l, i) =>
        new TanhField(tf.variable(l.w1, true, `w1-${backend}-${i}`), tf.variable(l.b), tf.variable(l.w2), l.label),
    );
    const pieces = piecewiseConstant(vars);
    const scheme = lieSplitting([explicitStep(pieces), projectionStep(rmsProjection())]);
    const { u0, c } = problem();
    const varList = vars.flatMap((v) => v.params as tf.Variable[]);
    // Solve only to t = 2: the third layer's parameters get zero gradients.
    const loss = (gradients: 'tape' | 'checkpoint') => () =>
      lossThrough(scheme, u0, u0.values, c, {
        t1: 2,
        step: { stepsPerUnit: 3 },
        saveAt: [1, 4 / 3],
        gradients: gradients === 'tape' ? 'tape' : { method: 'checkpoint', params: varList },
      });
    const tape = tf.variableGrads(loss('tape'), varList);
    const light = tf.variableGrads(loss('checkpoint'), varList);
    expect(light.value.dataSync()[0]).toBe(tape.value.dataSync()[0]);
    const names = varList.map((v) => v.name);
    const diffs = relativeDifferences(
      names.slice(0, 6).map((n) => light.grads[n]!),
      names.slice(0, 6).map((n) => tape.grads[n]!),
    );
    expect(Math.max(...diffs)).toBeLessThan(1e-5);
    // The tape has no gradient for the unused layer; the checkpointed operation lists it as an input: zeros.
    for (const n of names.slice(6)) {
      expect(tape.grads[n]).toBeUndefined();
      expect(tf.max(tf.abs(light.grads[n]!)).dataSync()[0]).toBe(0);
    }
    tf.dispose([tape.value, light.value, ...Object.values(tape.grads), ...Object.values(light.grads)]);

    // valueAndGrads and grad (u0 only: no parameters listed, the variables frozen).
    for (const v of varList) v.trainable = false;
    const onlyU0 = (gradients: 'tape' | 'checkpoint') =>
      tf.valueAndGrads((x: tf.Tensor) => lossThrough(scheme, u0, x, c, { t1: 3, step: { dt: 0.5 }, gradients }))([
        u0.values,
      ]);
    const a = onlyU0('tape');
    const b = onlyU0('checkpoint');
    expect(relativeDifferences(b.grads, a.grads)[0]).toBeLessThan(1e-5);
    const single = tf.grad((x: tf.Tensor) =>
      lossThrough(scheme, u0, x, c, { t1: 3, step: { dt: 0.5 }, gradients: 'checkpoint' }),
    )(u0.values);
    expect(relativeDifferences([single], a.grads)[0]).toBeLessThan(1e-5);
    tf.dispose([a.value, b.value, ...a.grads, ...b.grads, single, u0.values, c]);
    for (const l of layers) l.dispose();
    tf.dispose(varList);
  });

  it('leaves no tensors behind: with a gradient, without one, and when the solve is not on the loss path', async () => {
    const { u0, c } = problem();
    const scheme = rk4([f, lin]);
    const options = { t1: 1, step: { dt: 0.125 }, saveAt: [0.5], gradients: { method: 'checkpoint', params } } as const;
    await expectNoLeaks(() => gradientsOf(scheme, u0, params, c, options));
    await expectNoLeaks(() => solve(u0, scheme, options).dispose());
    // The loss reads only the saved state at 0.5: the second segment's checkpoints are never swept.
    await expectNoLeaks(() =>
      tf.grad((x: tf.Tensor) => {
        const sol = solve(u0.withValues(x), scheme, options);
        const l = tf.sum(tf.mul(sol.states[0]!.values, c));
        sol.dispose();
        return l;
      })(u0.values),
    );
    tf.dispose([u0.values, c]);
  });

  it('recomputes each step once: about twice the forward work', () => {
    const counted = TanhField.random(4, 6, 31, 'counted');
    const { u0, c } = problem();
    const scheme = rk4([counted]);
    const forward = solve(u0, scheme, { t1: 2, step: { dt: 0.25 } });
    const once = counted.evaluations;
    forward.dispose();
    expect(once).toBe(32);
    counted.evaluations = 0;
    const opts = { t1: 2, step: { dt: 0.25 }, gradients: { method: 'checkpoint', params: counted.params } } as const;
    tf.dispose(gradientsOf(scheme, u0, counted.params, c, opts));
    expect(counted.evaluations).toBe(2 * once);
    counted.evaluations = 0;
    tf.dispose(gradientsOf(scheme, u0, counted.params, c, { t1: 2, step: { dt: 0.25 } }));
    expect(counted.evaluations).toBe(once);
    counted.dispose();
    tf.dispose([u0.values, c]);
  });

  it('64 steps: peak memory (tf.profile) at most 1/4 of the tape', async () => {
    // A wide rate (hidden 8d) on a [2, 16, 16] state: the tape keeps ≈ 20 states' worth per RK4 step.
    const wide = TanhField.random(16, 128, 41, 'wide', 0.1);
    const u0 = field(tf.randomNormal([2, 16, 16], 0, 1, 'float32', 3) as tf.Tensor3D);
    const c = tf.randomNormal([2, 16, 16], 0, 1, 'float32', 4);
    const scheme = rk4([wide]);
    const peak = (gradients: 'tape' | 'checkpoint') =>
      peakBytesOf(() =>
        gradientsOf(scheme, u0, wide.params, c, {
          t1: 4,
          step: { stepsPerUnit: 16 },
          gradients: gradients === 'tape' ? 'tape' : { method: 'checkpoint', params: wide.params },
        }),
      );
    const tape = await peak('tape');
    const light = await peak('checkpoint');
    const state = 2 * 16 * 16 * 4;
    expect(light / tape, `tape ${tape} B (${(tape / state).toFixed(0)} states), checkpoint ${light} B`).toBeLessThan(
      0.25,
    );
    wide.dispose();
    tf.dispose([u0.values, c]);
  });

  afterAll(() => {
    f.dispose();
    g.dispose();
    lin.m.dispose();
  });
});

describe('checkpointed gradients: bad input', () => {
  const u0 = field(tf.tensor3d([[[1, 2]]]));
  const fi = new LinearField(
    [
      [0.5, 0],
      [0, 0.5],
    ],
    'I',
  );
  const run = (gradients: unknown, step: object = { dt: 0.5 }) =>
    solve(u0, rk4([fi]), { t1: 1, step, gradients } as never);

  it('refuses an unknown mode and bad params, with what was expected and how to fix it', () => {
    const unknown = thrownBy(() => run('recompute')) as SolverError;
    expect(unknown).toBeInstanceOf(SolverError);
    expect(unknown.subject).toBe('solve: gradients');
    expect(unknown.received).toBe('"recompute"');
    expect(unknown.fix).toMatch(/checkpoint/);
    expect(() => run({ method: 'remat' })).toThrow(/expected 'tape', 'checkpoint', 'adjoint'/);
    expect(() => run({ method: 'checkpoint', params: fi.m })).toThrow(/gradients.params: expected an array/);
    expect(() => run({ method: 'checkpoint', params: [[1, 2]] })).toThrow(/params\[0\]: expected a tf.Tensor/);
    const gone = tf.ones([2]);
    gone.dispose();
    expect(() => run({ method: 'checkpoint', params: [gone] })).toThrow(/params\[0\]: expected a live tensor/);
    const ints = tf.tensor1d([1, 2], 'int32');
    expect(() => run({ method: 'checkpoint', params: [fi.m, ints] })).toThrow(/params\[1\]: expected a float32 tensor/);
    expect(() => run({ method: 'checkpoint', params: [fi.m, fi.m] })).toThrow(/a tensor listed twice/);
    expect(() => run({ method: 'checkpoint', params: [u0.values] })).toThrow(/the initial state u0.values/);
    expect(() => run({ method: 'checkpoint', states: 'backward' })).toThrow(/gradients.states: expected no 'states'/);
    ints.dispose();
  });

  it('refuses an adaptive step', () => {
    const e = thrownBy(() => run('checkpoint', { rtol: 1e-3, atol: 1e-5 })) as SolverError;
    expect(e).toBeInstanceOf(SolverError);
    expect(e.expected).toMatch(/a fixed step/);
    expect(e.received).toBe('an adaptive step { rtol, atol }');
  });

  it('refuses, in the backward pass, a trainable variable the operators read but params do not list', () => {
    const v = tf.variable(
      tf.tensor2d([
        [0.5, 0.1],
        [0, 0.5],
      ]),
      true,
      'undeclared-W',
    );
    const w = tf.variable(tf.eye(2), true, 'declared-W');
    const field2: VectorField = {
      kind: 'vector-field',
      label: 'V',
      evaluate: (u) =>
        u.withValues(
          tf.tidy(() => tf.reshape(tf.matMul(tf.matMul(tf.reshape(u.values, [-1, 2]), v), w), u.values.shape)),
        ),
    };
    const loss = (gradients: GradientMode) => () =>
      tf.tidy(() => {
        const sol = solve(u0, lieSplitting([explicitStep(field2)]), { t1: 1, step: { dt: 0.5 }, gradients });
        const l = tf.sum(tf.square(sol.u.values));
        sol.dispose();
        return l as tf.Scalar;
      });
    const e = thrownBy(() => tf.variableGrads(loss({ method: 'checkpoint', params: [w] }), [v, w])) as SolverError;
    expect(e).toBeInstanceOf(SolverError);
    expect(e.received).toBe('the trainable variable "undeclared-W" [2, 2], not listed');
    expect(e.fix).toMatch(/add it to params/);
    // Listed, it works and equals the tape.
    const listed = tf.variableGrads(loss({ method: 'checkpoint', params: [v, w] }), [v, w]);
    const tape = tf.variableGrads(loss('tape'), [v, w]);
    const names = [v.name, w.name];
    const diffs = relativeDifferences(
      names.map((n) => listed.grads[n]!),
      names.map((n) => tape.grads[n]!),
    );
    expect(Math.max(...diffs)).toBeLessThan(1e-6);
    tf.dispose([listed.value, tape.value, ...Object.values(listed.grads), ...Object.values(tape.grads), v, w]);
  });

  it('refuses second-order gradients', () => {
    const x0 = tf.tensor3d([[[1, 2]]]);
    const inner = (x: tf.Tensor) =>
      tf.tidy(() => {
        const sol = solve(u0.withValues(x), rk4([fi]), { t1: 1, step: { dt: 0.5 }, gradients: 'checkpoint' });
        const l = tf.sum(tf.square(sol.u.values));
        sol.dispose();
        return l;
      });
    expect(() => tf.grad((x: tf.Tensor) => tf.sum(tf.grad(inner)(x)))(x0)).toThrow(/a gradient of a gradient/);
    x0.dispose();
  });
});
