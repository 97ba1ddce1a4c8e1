import { describe, expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { describeEachBackend, expectClose, expectTensorCount } from '@tide/backend/testing';
import { field, type Projection } from '@tide/domain';
import { SolverError } from './errors.js';
import { FIELD_A, FIELD_B } from './linear.fixture.js';
import { piecewiseConstant } from './schedule.js';
import { explicitEuler, heun, lieSplitting, parallelSplitting, rk4, strangSplitting, type Scheme } from './schemes.js';
import { solve } from './solve.js';
import { StepContext, newStatistics } from './step-context.js';
import { explicitStep, relaxationStep } from './sub-steps.js';
import { bogackiShampine, dormandPrince } from './embedded-runge-kutta.js';
import { stepDoubling } from './step-doubling.js';

const A = FIELD_A;
const B = FIELD_B;
const clamp: Projection = {
  kind: 'projection',
  label: 'clamp',
  project: (u) => u.withValues(tf.clipByValue(u.values, -1, 1)),
};

describeEachBackend('schemes step themselves', () => {
  const schemes: Scheme[] = [
    lieSplitting([explicitStep(A), explicitStep(B), relaxationStep([2, 0])]),
    strangSplitting([A, B]),
    parallelSplitting([A, B]),
    explicitEuler([A, B]),
    heun([A, B]),
    rk4([A, B]),
    bogackiShampine([A, B]),
    dormandPrince([A, B]),
    stepDoubling(strangSplitting([A, B])),
  ];

  it.each(schemes.map((s) => [s.name, s] as const))(
    '%s: scheme.step over one step is what solve does, with the same statistics, leaving its output only',
    async (_name, scheme) => {
      const u0 = field(
        tf.tensor3d([
          [
            [1, -0.5],
            [0.3, 0.8],
          ],
        ]),
      );
      const stats = newStatistics();
      const out = await expectTensorCount(
        () => tf.tidy(() => scheme.step(u0, new StepContext(stats, 0, 0, 0.25)).values),
        1,
      );
      const sol = solve(u0, scheme, { t1: 0.25, step: { dt: 0.25 } });
      expectClose(out, sol.u.values, { atol: 0, rtol: 0 });
      expect({ ...stats, steps: 1 }).toEqual(sol.stats);
      tf.dispose([out, u0.values]);
      sol.dispose();
    },
  );
});

describe('schemes: their operators and bad input', () => {
  it('list the operators they read, with the role a coverage error names', () => {
    expect(lieSplitting([explicitStep(A), relaxationStep([1, 0])]).operators).toEqual([
      { role: 'an explicit sub-step', value: A },
    ]);
    expect(parallelSplitting([A, B]).operators.map((o) => o.value)).toEqual([A, B]);
    expect(strangSplitting([A, B]).operators.map((o) => o.value)).toEqual([A, B, A]);
    expect(rk4([A, B]).operators).toEqual([
      { role: 'a rk4 term', value: A },
      { role: 'a rk4 term', value: B },
    ]);
    expect(dormandPrince([A]).operators).toEqual([{ role: 'a dormand-prince term', value: A }]);
    expect(stepDoubling(strangSplitting([A, B])).operators.map((o) => o.value)).toEqual([A, B, A]);
  });

  it('Runge–Kutta, Strang and parallel schemes take rates only', () => {
    expect(() => rk4([A, clamp as never])).toThrow(
      /rk4: term 1: expected a VectorField .*received a Projection \(kind 'projection'\) "clamp"\. Fix: a Projection steps with projectionStep/,
    );
    expect(() => heun([piecewiseConstant([A, clamp]) as never])).toThrow(/heun: term 0: .*\(piece 1 of the schedule\)/);
    expect(() => explicitEuler([{ label: 'x' } as never])).toThrow(SolverError);
    expect(() => strangSplitting([clamp as never])).toThrow(/explicitStep: field: expected a VectorField/);
    expect(() => parallelSplitting([A, clamp as never])).toThrow(SolverError);
  });

  it('lieSplitting refuses what is not a sub-step', () => {
    expect(() => lieSplitting([A as never])).toThrow(
      /lieSplitting: sub-step 0: expected a sub-step built by explicitStep, projectionStep, semiImplicitStep, relaxationStep or pointwiseStep/,
    );
    expect(() => lieSplitting([explicitStep(A), { kind: 'explicit', field: A } as never])).toThrow(/sub-step 1/);
  });
});
