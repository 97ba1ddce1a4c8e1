import { describe, expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { describeEachBackend, expectClose, expectNoLeaks, thrownBy } from '@tide/backend/testing';
import { field, type Field, type VectorField } from '@tide/domain';
import {
  bumpField,
  bumpIntegral,
  errorOverTolerance,
  exactAt,
  initial,
  maxAbsError,
  median,
  rowsOf,
  smoothField,
} from './adaptive.fixture.js';
import { acceptedFactor, rejectedFactor, PI_CONTROLLER } from './controller.js';
import { bogackiShampine, dormandPrince } from './embedded-runge-kutta.js';
import { SolverError } from './errors.js';
import { LinearField } from './linear.fixture.js';
import { lieSplitting, rk4 } from './schemes.js';
import { solve, type Solution } from './solve.js';
import { stepDoubling } from './step-doubling.js';
import { explicitStep } from './sub-steps.js';

const T = 5;

/** error/tol of an adaptive solve of the smooth or bump problem to T. */
function measure(make: typeof dormandPrince, problem: 'smooth' | 'bump', rtol: number) {
  const atol = rtol * 1e-2;
  const u0 = initial();
  const F = problem === 'smooth' ? smoothField() : bumpField();
  const sol = solve(u0, make([F]), { t1: T, step: { rtol, atol } });
  const want = exactAt(problem === 'smooth' ? T : bumpIntegral(T));
  const got = rowsOf(sol.u);
  const result = {
    ratio: errorOverTolerance(got, want, rtol, atol),
    maxAbs: maxAbsError(got, want),
    evaluations: sol.stats.fieldEvaluations,
    ...sol.stats.adaptive!,
  };
  sol.dispose();
  u0.dispose();
  return result;
}

describeEachBackend('adaptive solves: accuracy against tolerance', () => {
  // rtol = 1e-3 … 1e-6 (atol = rtol/100): three decades. Below 1e-6 the float32 state's rounding (≈ 1e-7 relative,
  // accumulated over the steps) dominates the error and error/tol grows (measured ≈ 5 at 1e-7 for DP5), so the
  // decades stop at 1e-6. Local error control does not bound the global error by tol exactly: what is
  // asserted is proportionality — each error/tol within a factor of 10 of the median over the decades — and
  // that the error is at most 10·tol.
  const rtols = [1e-3, 1e-4, 1e-5, 1e-6];
  it.each([
    ['Dormand–Prince 5(4)', dormandPrince],
    ['Bogacki–Shampine 3(2)', bogackiShampine],
  ] as const)('%s: global error ∝ tol over three decades on the smooth problem', (_name, make) => {
    const runs = rtols.map((rtol) => measure(make, 'smooth', rtol));
    const ratios = runs.map((r) => r.ratio);
    const m = median(ratios);
    const report = `error/tol ${ratios.map((r) => r.toFixed(3)).join(', ')} for rtol ${rtols.join(', ')}`;
    for (const r of ratios) {
      expect(r, report).toBeGreaterThan(m / 10);
      expect(r, report).toBeLessThan(m * 10);
      expect(r, report).toBeLessThan(10);
    }
    // Tighter tolerances cost more work.
    const work = runs.map((r) => r.evaluations);
    expect(
      work.every((w, i) => i === 0 || w > work[i - 1]!),
      `evaluations ${work.join(', ')}`,
    ).toBe(true);
  });

  it('a fast transient makes the controller reject steps, and the solve still meets the tolerance', () => {
    for (const rtol of [1e-3, 1e-4, 1e-5]) {
      const run = measure(dormandPrince, 'bump', rtol);
      const report = `rtol ${rtol}: error/tol ${run.ratio.toFixed(3)}, ${run.accepted} accepted, ${run.rejected} rejected, steps ${run.minStep.toExponential(2)} … ${run.maxStep.toExponential(2)}`;
      expect(run.rejected, report).toBeGreaterThan(0);
      expect(run.ratio, report).toBeLessThan(10);
      // The steps shrink ≥ 10× through the burst.
      expect(run.maxStep / run.minStep, report).toBeGreaterThan(10);
    }
  });

  it('work–precision: Dormand–Prince needs fewer evaluations than fixed-step RK4 for the same error', () => {
    const u0 = initial();
    const want = exactAt(T);
    const rk4Error = (n: number) => {
      const sol = solve(u0, rk4([smoothField()]), { t1: T, step: { dt: T / n } });
      const e = maxAbsError(rowsOf(sol.u), want);
      sol.dispose();
      return e;
    };
    for (const rtol of [1e-4, 1e-5]) {
      const dp = measure(dormandPrince, 'smooth', rtol);
      // The fewest uniform RK4 steps that are as accurate (bisection; the error decreases with n here).
      let lo = 1;
      let hi = 1024;
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        if (rk4Error(mid) <= dp.maxAbs) hi = mid;
        else lo = mid;
      }
      const report = `rtol ${rtol}: DP5 max error ${dp.maxAbs.toExponential(2)} with ${dp.evaluations} evaluations; RK4 needs ${hi} steps = ${4 * hi} evaluations`;
      expect(4 * hi, report).toBeGreaterThan(dp.evaluations);
    }
    u0.dispose();
  });
});

describeEachBackend('adaptive solves: trajectory, statistics and memory', () => {
  it('ends steps exactly at the save times and at t1, and saves the solution there', () => {
    const u0 = initial();
    const rtol = 1e-6;
    const saveAt = [0, 0.3, 1, Math.PI, T];
    const sol = solve(u0, dormandPrince([smoothField()]), { t1: T, step: { rtol, atol: 1e-8 }, saveAt });
    expect(sol.ts).toEqual(saveAt);
    sol.states.forEach((s, i) => {
      expect(errorOverTolerance(rowsOf(s), exactAt(saveAt[i]!), rtol, 1e-8), `t = ${saveAt[i]}`).toBeLessThan(10);
    });
    expectClose(sol.states[0]!.values, u0.values, { atol: 0, rtol: 0 });
    expectClose(sol.states[4]!.values, sol.u.values, { atol: 0, rtol: 0 });
    sol.dispose();
    // 'steps' saves every accepted step boundary.
    const all = solve(u0, bogackiShampine([smoothField()]), {
      t1: T,
      step: { rtol: 1e-3, atol: 1e-5 },
      saveAt: 'steps',
    });
    const a = all.stats.adaptive!;
    expect(all.ts).toHaveLength(a.accepted + 1);
    expect(all.ts[0]).toBe(0);
    expect(all.ts.at(-1)).toBe(T);
    const steps = all.ts.slice(1).map((t, i) => t - all.ts[i]!);
    expect(Math.min(...steps)).toBeCloseTo(a.minStep, 12);
    expect(Math.max(...steps)).toBeCloseTo(a.maxStep, 12);
    expect(steps.at(-1)).toBeCloseTo(a.finalStep, 12);
    expect(steps[0]).toBeCloseTo(a.initialStep, 12);
    expect(a.nextStep).toBeGreaterThan(0);
    expect(all.stats.steps).toBe(a.accepted);
    all.dispose();
    u0.dispose();
  });

  it('leaves exactly the result and the saved states, rejected trials included', async () => {
    const u0 = initial();
    const [bumpy, smooth] = [bumpField(), smoothField()];
    const before = tf.memory().numTensors;
    const sol = solve(u0, dormandPrince([bumpy]), { t1: T, step: { rtol: 1e-4, atol: 1e-6 }, saveAt: [1, 2] });
    expect(sol.stats.adaptive!.rejected).toBeGreaterThan(0);
    expect(tf.memory().numTensors - before).toBe(3);
    sol.dispose();
    expect(tf.memory().numTensors).toBe(before);
    const split = stepDoubling(lieSplitting([explicitStep(bumpy), explicitStep(smooth)]));
    await expectNoLeaks(() => solve(u0, split, { t1: 2, step: { rtol: 1e-2, atol: 1e-4 }, saveAt: 'steps' }));
    await expectNoLeaks(() =>
      solve(u0, bogackiShampine([bumpy]), { t1: 2, step: { rtol: 1e-3, atol: 1e-5, initialStep: 1 } }),
    );
    u0.dispose();
  });

  it('gradients flow through an adaptive solve (the accepted steps; step sizes are constants of the graph)', () => {
    const u0 = initial();
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
    const scheme = dormandPrince([smoothField()]);
    const loss = (x: tf.Tensor) =>
      tf.tidy(() => {
        const sol = solve(u0.withValues(x as tf.Tensor3D), scheme, { t1: 1, step: { rtol: 1e-5, atol: 1e-7 } });
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
    expect(Math.abs(analytic - fd)).toBeLessThan(1e-2 * Math.max(1, Math.abs(fd)));
    tf.dispose([u0.values, c, dir, g]);
  });
});

const square: VectorField = {
  kind: 'vector-field',
  label: 'square',
  evaluate: (u: Field) => u.withValues(tf.square(u.values)),
};
/** u_t = u until t = 0.5, NaN after. */
const breaksAtHalf: VectorField = {
  kind: 'vector-field',
  label: 'breaks',
  evaluate: (u: Field, t: number) => u.withValues(tf.mul(u.values, t < 0.5 ? 1 : NaN)),
};

describe('adaptive solves: failures are typed and leave nothing behind', () => {
  const u0 = field(tf.tensor3d([[[1, 0.5]]]));
  const rotation = new LinearField(
    [
      [0, 1],
      [-1, 0],
    ],
    'R',
  );
  const dp = dormandPrince([rotation]);

  function fails(run: () => Solution, pattern: RegExp): SolverError {
    const before = tf.memory().numTensors;
    const error = thrownBy(run);
    expect(error).toBeInstanceOf(SolverError);
    expect(error.message).toMatch(pattern);
    expect(tf.memory().numTensors, 'tensors left after the failure').toBe(before);
    return error as SolverError;
  }

  it('refuses bad tolerances and step options', () => {
    for (const rtol of [0, -1e-3, NaN, Infinity, '1e-3']) {
      const e = fails(
        () => solve(u0, dp, { t1: 1, step: { rtol: rtol as number, atol: 1e-6 } }),
        /step\.rtol: expected a finite rtol > 0/,
      );
      expect(e.fix).toMatch(/rtol: 1e-4/);
    }
    for (const atol of [0, -1, NaN, undefined]) {
      fails(
        () => solve(u0, dp, { t1: 1, step: { rtol: 1e-3, atol: atol as number } }),
        /step\.atol: expected a finite atol > 0/,
      );
    }
    fails(
      () => solve(u0, dp, { t1: 1, step: { rtol: 1e-3, atol: 1e-6, initialStep: 0 } }),
      /initialStep: expected a finite initialStep > 0, received 0/,
    );
    fails(
      () => solve(u0, dp, { t1: 1, step: { rtol: 1e-3, atol: 1e-6, minStep: -1 } }),
      /minStep: expected a finite minStep ≥ 0/,
    );
    fails(
      () => solve(u0, dp, { t1: 1, step: { rtol: 1e-3, atol: 1e-6, maxSteps: 2.5 } }),
      /maxSteps: expected an integer ≥ 1/,
    );
    fails(
      () => solve(u0, dp, { t1: 1, step: { rtol: 1e-3, atol: 1e-6, jumpTimes: [NaN] } }),
      /jumpTimes: expected a list of finite times/,
    );
    fails(
      () => solve(u0, dp, { t1: 1, step: { rtol: 1e-3, atol: 1e-6 }, saveAt: [2] }),
      /saveAt: expected times in \[0, 1\], received \[2\]/,
    );
    fails(() => solve(u0, dp, { t1: NaN, step: { rtol: 1e-3, atol: 1e-6 } }), /expected finite t0 and t1/);
  });

  it('refuses a scheme without an error estimate, and a sub-step observer', () => {
    const e = fails(
      () => solve(u0, rk4([square]), { t1: 1, step: { rtol: 1e-3, atol: 1e-6 } }),
      /solve: step: expected with rtol\/atol, a scheme that estimates its error: bogackiShampine, dormandPrince or stepDoubling\(scheme\), received the 'runge-kutta' scheme "rk4"/,
    );
    expect(e.fix).toMatch(/stepDoubling\(rk4\)/);
    fails(
      () => solve(u0, dp, { t1: 1, step: { rtol: 1e-3, atol: 1e-6 }, onSubStep: () => undefined }),
      /onSubStep: expected no sub-step observer/,
    );
  });

  it('refuses a non-finite initial state', () => {
    const bad = field(tf.tensor3d([[[1, NaN]]]));
    fails(
      () => solve(bad, dp, { t1: 1, step: { rtol: 1e-3, atol: 1e-6 } }),
      /solve: u0: expected a finite initial state, received NaN or ±Infinity/,
    );
    bad.dispose();
  });

  it('stops after maxSteps trial steps', () => {
    const e = fails(
      () => solve(u0, dp, { t1: 10, step: { rtol: 1e-6, atol: 1e-8, maxSteps: 5 } }),
      /step\.maxSteps: expected at most 5 trial steps to reach t1 = 10, received t = [\d.e-]+ after \d+ accepted and \d+ rejected steps/,
    );
    expect(e.fix).toMatch(/raise maxSteps/);
  });

  it('reports a step-size underflow: below minStep, or where t + Δt = t in float64', () => {
    // u_t = u² from u = 1 blows up at t = 1.
    const blowUp = dormandPrince([square]);
    fails(
      () => solve(u0, blowUp, { t1: 2, step: { rtol: 1e-4, atol: 1e-6, minStep: 1e-6 } }),
      /solve: step size: expected a step Δt ≥ minStep = 0\.000001 that advances t in float64, received Δt = [\d.e-]+ at t = (1\.0000|0\.9999)/,
    );
    fails(
      () => solve(u0, blowUp, { t1: 2, step: { rtol: 1e-4, atol: 1e-6, maxSteps: 100_000 } }),
      /solve: step size: expected a step Δt ≥ minStep = 0 that advances t in float64/,
    );
  });

  it('an operator that breaks the contract mid-solve leaves no tensors behind', () => {
    for (const failAt of [2, 3, 9]) {
      let calls = 0;
      const failsLater = {
        kind: 'vector-field',
        label: 'fails-later',
        evaluate: (u: Field, t: number) => (++calls >= failAt ? 42 : rotation.evaluate(u, t)),
      } as never;
      fails(
        () => solve(u0, dormandPrince([failsLater]), { t1: 1, step: { rtol: 1e-3, atol: 1e-6 }, saveAt: 'steps' }),
        /operator "fails-later": expected a Field/,
      );
      expect(calls).toBe(failAt);
    }
  });

  it('reports a state that stays non-finite however small the step', () => {
    const e = fails(
      () => solve(u0, dormandPrince([breaksAtHalf]), { t1: 1, step: { rtol: 1e-4, atol: 1e-6 } }),
      /solve: state: expected a finite state from a small enough step, received NaN or ±Infinity after every trial step from t = 0\.4999/,
    );
    expect(e.fix).toMatch(/rate overflows or is undefined/);
  });
});

describe('the PI controller', () => {
  it('has the published gains and limits, and grows or shrinks the step as documented', () => {
    expect(PI_CONTROLLER).toMatchObject({ safety: 0.9, beta1: 0.7, beta2: 0.4, minFactor: 0.2, maxFactor: 10 });
    // err = 1, previous 1: the safety factor alone.
    expect(acceptedFactor(1, 1, 5, false)).toBeCloseTo(0.9, 15);
    // Δt ← Δt · 0.9 · err^(−0.7/k) · prev^(0.4/k)
    expect(acceptedFactor(0.01, 0.1, 5, false)).toBeCloseTo(0.9 * 0.01 ** -0.14 * 0.1 ** 0.08, 12);
    // err is floored at 1e-4, the factor capped at 10.
    expect(acceptedFactor(1e-12, 1, 5, false)).toBeCloseTo(0.9 * 1e-4 ** -0.14, 12);
    expect(acceptedFactor(0, 1, 1, false)).toBe(10);
    expect(acceptedFactor(0.001, 1, 5, true)).toBe(1);
    expect(rejectedFactor(2, 5)).toBeCloseTo(0.9 * 2 ** -0.2, 15);
    expect(rejectedFactor(1e9, 5)).toBe(0.2);
    expect(rejectedFactor(NaN, 5)).toBe(0.2);
  });
});
