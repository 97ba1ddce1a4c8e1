import { describe, expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { convergenceOrder, describeEachBackend, expectClose } from '@tide/backend/testing';
import { field } from '@tide/domain';
import { A, B, exactSplit, initial, maxAbsError, rowsOf, smoothField } from './adaptive.fixture.js';
import { bogackiShampine, dormandPrince } from './embedded-runge-kutta.js';
import { LinearField } from './linear.fixture.js';
import { piecewiseConstant, scheduleFromFunction } from './schedule.js';
import { solve } from './solve.js';
import { StepContext, newStatistics } from './step-context.js';

describeEachBackend('embedded Runge–Kutta pairs', () => {
  // Dormand and Prince chose the pair to make the leading error coefficients of b small, so at the step sizes
  // float32 resolves (errors 4e-3 … 1e-5) the Δt⁶ terms still steepen the slope: measured 5.37 here. The
  // window is therefore one-sided: at least the order − 0.2, at most + 0.5.
  it.each([
    ['Dormand–Prince', 5, dormandPrince, [1, 2 / 3, 1 / 2, 2 / 5, 1 / 3]],
    ['Bogacki–Shampine', 3, bogackiShampine, [1 / 4, 1 / 5, 1 / 6, 1 / 8, 1 / 10]],
  ] as const)('%s on a fixed grid has its order %d (−0.2, +0.5)', (_name, order, make, dts) => {
    // The problem of the other measured orders (solve.test.ts): u_t = u A + u B to T = 2.
    const u0 = initial();
    const want = exactSplit(2);
    const errors = dts.map((dt) => {
      const sol = solve(u0, make([new LinearField(A, 'A'), new LinearField(B, 'B')]), { t1: 2, step: { dt } });
      const e = maxAbsError(rowsOf(sol.u), want);
      sol.dispose();
      return e;
    });
    const measured = convergenceOrder(dts, errors);
    const report = `measured ${measured.toFixed(2)} from ${errors.map((e) => e.toExponential(2)).join(', ')}`;
    expect(measured, report).toBeGreaterThan(order - 0.2);
    expect(measured, report).toBeLessThan(order + 0.5);
    u0.dispose();
  });

  it('a trial step returns the propagated solution, the estimate Δt Σ (b_i − b̂_i) k_i and FSAL stages', () => {
    const u0 = initial();
    const F = smoothField();
    for (const make of [dormandPrince, bogackiShampine]) {
      const scheme = make([F]);
      const stats = newStatistics();
      tf.tidy(() => {
        const trial = scheme.trial(u0, new StepContext(stats, 0, 0, 0.2));
        // Same stages as the fixed step.
        expectClose(trial.u.values, scheme.step(u0, new StepContext(newStatistics(), 0, 0, 0.2)).values, {
          atol: 1e-7,
          rtol: 0,
        });
        // The last stage is F(u_{n+1}); the first is F(u_n).
        expectClose(trial.last!.values, F.evaluate(trial.u, 0.2).values, { atol: 1e-6, rtol: 0 });
        expectClose(trial.first!.values, F.evaluate(u0, 0).values, { atol: 0, rtol: 0 });
        // The estimate is small against the step but not zero.
        const e = tf.max(tf.abs(trial.error)).dataSync()[0]!;
        expect(e).toBeGreaterThan(0);
        expect(e).toBeLessThan(1e-2);
      });
      expect(stats.fieldEvaluations).toBe(scheme.tableau.b.length);
      // Reusing a valid first stage saves one evaluation.
      const reuse = newStatistics();
      tf.tidy(() => {
        const first = { values: F.evaluate(u0, 0).values, operators: [F] };
        scheme.trial(u0, new StepContext(reuse, 0, 0, 0.2), first);
      });
      expect(reuse.fieldEvaluations).toBe(scheme.tableau.b.length - 1);
    }
    u0.dispose();
  });

  it('counts rate evaluations with FSAL: 6 per Dormand–Prince trial, 3 per Bogacki–Shampine trial', () => {
    const u0 = initial();
    for (const [make, perTrial] of [
      [dormandPrince, 6],
      [bogackiShampine, 3],
    ] as const) {
      // Hairer's starting step evaluates F twice; the first is the first stage of step 1.
      const sol = solve(u0, make([smoothField()]), { t1: 5, step: { rtol: 1e-4, atol: 1e-6 } });
      const { accepted, rejected } = sol.stats.adaptive!;
      expect(sol.stats.fieldEvaluations).toBe(2 + perTrial * (accepted + rejected));
      expect(sol.stats.steps).toBe(accepted);
      sol.dispose();
      // With a given first step: one evaluation for the first stage of step 1.
      const given = solve(u0, make([smoothField()]), {
        t1: 5,
        step: { rtol: 1e-4, atol: 1e-6, initialStep: 1 },
      });
      const g = given.stats.adaptive!;
      expect(g.rejected).toBeGreaterThan(0); // Δt = 1 is too long: a retry reuses the first stage too
      expect(given.stats.fieldEvaluations).toBe(1 + perTrial * (g.accepted + g.rejected));
      given.dispose();
    }
    // Operators that are new objects at every time (a computed schedule) are never reused: 7 per trial.
    const scaled = scheduleFromFunction([0, 5], () => smoothField());
    const sol = solve(u0, dormandPrince([scaled]), { t1: 5, step: { rtol: 1e-4, atol: 1e-6 } });
    const { accepted, rejected } = sol.stats.adaptive!;
    expect(sol.stats.fieldEvaluations).toBe(2 + 7 * (accepted + rejected));
    sol.dispose();
    u0.dispose();
  });

  it('ends steps at the jumps of a piecewise-constant θ(t), and reuses no rate across a jump', () => {
    // u_t = θ(t) u, θ = 0.5, −0.25, 1 on [0,1), [1,2), [2,3]: u(3) = u(0)·e^1.25, u(1) = e^0.5, u(2) = e^0.25.
    const theta = piecewiseConstant([0.5, -0.25, 1].map((r) => new LinearField([[r]], `θ=${r}`)));
    const u0 = field(tf.tensor3d([[[1], [2]]]));
    const rtol = 1e-6;
    const sol = solve(u0, dormandPrince([theta]), { t1: 3, step: { rtol, atol: 1e-8 }, saveAt: 'steps' });
    expect(sol.ts).toContain(1);
    expect(sol.ts).toContain(2);
    const { accepted, rejected } = sol.stats.adaptive!;
    // Two jumps inside the span: the first stage after each is evaluated afresh.
    expect(sol.stats.fieldEvaluations).toBe(2 + 6 * (accepted + rejected) + 2);
    // At most one rejection: the first step after θ jumps from −0.25 to 1 (the proposal knew the slow piece).
    expect(rejected).toBeLessThanOrEqual(1);
    expectClose(sol.u.values, [[[Math.exp(1.25)], [2 * Math.exp(1.25)]]], { atol: 0, rtol: 10 * rtol });
    const at1 = sol.states[sol.ts.indexOf(1)]!;
    expectClose(at1.values, [[[Math.exp(0.5)], [2 * Math.exp(0.5)]]], { atol: 0, rtol: 10 * rtol });
    sol.dispose();
    // The same θ without its jumps known: the controller finds them by rejecting steps, and needs more work.
    const hidden = scheduleFromFunction(theta.span, (t) => theta.at(t));
    const blind = solve(u0, dormandPrince([hidden]), { t1: 3, step: { rtol, atol: 1e-8 } });
    expectClose(blind.u.values, [[[Math.exp(1.25)], [2 * Math.exp(1.25)]]], { atol: 0, rtol: 100 * rtol });
    // jumpTimes declares them.
    const told = solve(u0, dormandPrince([hidden]), { t1: 3, step: { rtol, atol: 1e-8, jumpTimes: [1, 2] } });
    expect(told.stats.adaptive!.rejected).toBeLessThanOrEqual(1);
    expect(blind.stats.adaptive!.rejected).toBeGreaterThan(5);
    expect(told.stats.fieldEvaluations).toBeLessThan(blind.stats.fieldEvaluations);
    blind.dispose();
    told.dispose();
    u0.dispose();
  });
});

describe('embedded Runge–Kutta pairs: bad input', () => {
  it('refuse an empty list and terms that are not rates, as rk4 does', () => {
    expect(() => dormandPrince([])).toThrow(/dormand-prince: expected at least one sub-step or term/);
    const clamp = { kind: 'projection', label: 'clamp', project: (u: never) => u };
    expect(() => bogackiShampine([clamp as never])).toThrow(/bogacki-shampine: term 0: expected a VectorField/);
  });
});
