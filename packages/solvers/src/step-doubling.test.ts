import { describe, expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { convergenceOrder, describeEachBackend, expectClose, expectNoLeaks } from '@tide/backend/testing';
import type { Projection } from '@tide/domain';
import { A, B, errorOverTolerance, exactSplit, initial, maxAbsError, median, rowsOf } from './adaptive.fixture.js';
import { LinearField } from './linear.fixture.js';
import { lieSplitting, strangSplitting, type Scheme } from './schemes.js';
import { solve } from './solve.js';
import { StepContext, newStatistics } from './step-context.js';
import { stepDoubling } from './step-doubling.js';
import { explicitStep, projectionStep } from './sub-steps.js';

/** v ↦ v / √(mean v²): the unit-RMS sphere per token (a LayerNorm without centring or ε). */
const unitRms: Projection = {
  kind: 'projection',
  label: 'unit-rms',
  project: (u) => u.withValues(tf.tidy(() => tf.div(u.values, tf.sqrt(tf.mean(tf.square(u.values), -1, true))))),
};

const rms = (rows: number[][]) => Math.sqrt(rows.flat().reduce((s, v) => s + v * v, 0) / rows.flat().length);

describeEachBackend('step doubling', () => {
  const fa = new LinearField(A, 'A');
  const fb = new LinearField(B, 'B');
  const schemes: [string, Scheme][] = [
    ['Lie', lieSplitting([explicitStep(fa), explicitStep(fb)])],
    ['Strang', strangSplitting([fa, fb])],
  ];

  it.each(schemes)(
    '%s: the estimate (u₂ − u₁)/(2^p − 1) is within a factor 3 of the true local error',
    (_n, scheme) => {
      const doubled = stepDoubling(scheme, { extrapolate: false });
      const u0 = initial();
      for (const h of [0.2, 0.1, 0.05]) {
        // Host arrays, not tensors: computed inside a tidy that frees the trial's tensors.
        let u2: number[][] = [];
        let estimate: number[][] = [];
        tf.tidy(() => {
          const trial = doubled.trial(u0, new StepContext(newStatistics(), 0, 0, h));
          u2 = rowsOf(trial.u);
          estimate = (trial.error.arraySync() as number[][][])[0]!;
        });
        const exact = exactSplit(h);
        const truth = rms(u2.map((row, i) => row.map((v, j) => v - exact[i]![j]!)));
        const ratio = rms(estimate) / truth;
        expect(
          ratio,
          `Δt = ${h}: estimate ${rms(estimate).toExponential(3)}, true ${truth.toExponential(3)}`,
        ).toBeGreaterThan(1 / 3);
        expect(ratio).toBeLessThan(3);
      }
      u0.dispose();
    },
  );

  it('adaptive Strang meets the tolerance: about ∝ tol with extrapolation (the default), within 10·tol without', () => {
    const u0 = initial();
    const want = exactSplit(2);
    const run = (rtol: number, extrapolate: boolean) => {
      const sol = solve(u0, stepDoubling(strangSplitting([fa, fb]), { extrapolate }), {
        t1: 2,
        step: { rtol, atol: rtol * 1e-2 },
      });
      const ratio = errorOverTolerance(rowsOf(sol.u), want, rtol, rtol * 1e-2);
      sol.dispose();
      return ratio;
    };
    // u₂ + e is order 3 and e overestimates its error: error/tol stays flat (measured ≈ 0.3–0.4).
    const rtols = [1e-2, 1e-3, 1e-4, 1e-5];
    const extrapolated = rtols.map((rtol) => run(rtol, true));
    const m = median(extrapolated);
    for (const r of extrapolated) {
      expect(r, `error/tol ${extrapolated.map((x) => x.toFixed(3))}`).toBeLessThan(2);
      expect(r).toBeGreaterThan(m / 10);
      expect(r).toBeLessThan(m * 10);
    }
    // Keeping u₂ controls its own local error: the global error grows like tol^(2/3) relative to tol.
    const kept = [1e-2, 1e-3, 1e-4].map((rtol) => run(rtol, false));
    expect(
      kept.every((r, i) => r < 10 && (i === 0 || r > kept[i - 1]!)),
      `error/tol ${kept.map((x) => x.toFixed(3))}`,
    ).toBe(true);
    u0.dispose();
  });

  it('adaptive Lie with a projection ends every step on the constraint set', async () => {
    const scheme = stepDoubling(lieSplitting([explicitStep(fa), explicitStep(fb), projectionStep(unitRms)]));
    expect(scheme.extrapolate).toBe(false);
    const u0 = initial();
    const sol = solve(u0, scheme, { t1: 2, step: { rtol: 1e-3, atol: 1e-5 }, saveAt: 'steps' });
    expect(sol.stats.adaptive!.accepted).toBeGreaterThan(5);
    for (const s of sol.states.slice(1)) {
      const tokenRms = tf.tidy(() => tf.sqrt(tf.mean(tf.square(s.values), -1)).arraySync() as number[][]);
      expectClose(tokenRms, [[1, 1]], { atol: 2e-6, rtol: 0 });
    }
    // Three steps of the scheme per trial: its projection counts them.
    const { accepted, rejected } = sol.stats.adaptive!;
    expect(sol.stats.projections).toBe(3 * (accepted + rejected));
    expect(sol.stats.fieldEvaluations).toBe(6 * (accepted + rejected));
    sol.dispose();
    await expectNoLeaks(() => solve(u0, scheme, { t1: 1, step: { rtol: 1e-2, atol: 1e-4 } }));
    u0.dispose();
  });

  it('on a fixed grid, a step of Δt is two steps of the scheme over Δt/2 (without extrapolation)', () => {
    const u0 = initial();
    const strang = strangSplitting([fa, fb]);
    const doubled = solve(u0, stepDoubling(strang, { extrapolate: false }), { t1: 2, step: { dt: 0.5 } });
    const halves = solve(u0, strang, { t1: 2, step: { dt: 0.25 } });
    expectClose(doubled.u.values, halves.u.values, { atol: 1e-6, rtol: 0 });
    expect(doubled.stats.fieldEvaluations).toBe(halves.stats.fieldEvaluations);
    doubled.dispose();
    halves.dispose();
    u0.dispose();
  });

  it.each([
    ['Lie', 2, [1 / 4, 1 / 5, 1 / 6, 1 / 8, 1 / 10]],
    ['Strang', 3, [1 / 4, 1 / 5, 1 / 6, 1 / 8, 1 / 10]],
  ] as const)('extrapolated %s is one order higher on a fixed grid: %d within ±0.2', (name, order, dts) => {
    const scheme = stepDoubling(schemes.find(([n]) => n === name)![1]);
    expect(scheme.extrapolate).toBe(true);
    const u0 = initial();
    const want = exactSplit(2);
    const errors = dts.map((dt) => {
      const sol = solve(u0, scheme, { t1: 2, step: { dt } });
      const e = maxAbsError(rowsOf(sol.u), want);
      sol.dispose();
      return e;
    });
    const measured = convergenceOrder(dts, errors);
    expect(
      Math.abs(measured - order),
      `measured ${measured.toFixed(2)} from ${errors.map((e) => e.toExponential(2)).join(', ')}`,
    ).toBeLessThan(0.2);
    u0.dispose();
  });
});

describe('stepDoubling: bad input', () => {
  const fa = new LinearField(A, 'A');
  it('refuses what is not a scheme, a bad order or extrapolate flag, and extrapolation across a projection', () => {
    expect(() => stepDoubling({} as never)).toThrow(/stepDoubling: scheme: expected a scheme/);
    const lie = lieSplitting([explicitStep(fa)]);
    expect(() => stepDoubling(lie, { order: 0 })).toThrow(
      /stepDoubling: order: expected the scheme order p, an integer ≥ 1, received 0/,
    );
    expect(() => stepDoubling(lie, { order: 1.5 })).toThrow(/received 1\.5/);
    expect(() => stepDoubling(lie, { extrapolate: 'yes' as never })).toThrow(/extrapolate: expected true or false/);
    expect(() =>
      stepDoubling(lieSplitting([explicitStep(fa), projectionStep(unitRms)]), { extrapolate: true }),
    ).toThrow(
      /stepDoubling: extrapolate: expected a scheme of rates and relaxations only, received lie with a projection sub-step/,
    );
    expect(stepDoubling(lie).extrapolate).toBe(true);
    expect(stepDoubling(lie).order).toBe(1);
    expect(stepDoubling(strangSplitting([fa])).errorOrder).toBe(3);
  });
});
