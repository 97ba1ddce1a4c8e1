import { describe, expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { describeEachBackend, expectClose, expectNoLeaks } from '@tide/backend/testing';
import { field, type Field, type PointwiseStep, type Projection, type VectorField } from '@tide/domain';
import { SolverError } from './errors.js';
import { LinearField } from './linear.fixture.js';
import { mapSchedule, piecewiseConstant, scheduleFromFunction } from './schedule.js';
import { lieSplitting } from './schemes.js';
import { solve } from './solve.js';
import { explicitStep, pointwiseStep, projectionStep, relaxationStep, semiImplicitStep } from './sub-steps.js';

// Stand-ins with the kinds and labels of the real operators (the solvers depend on no operator package).
const attention: VectorField = {
  kind: 'vector-field',
  label: 'attention',
  evaluate: (u) => u.withValues(tf.mul(u.values, 0.5)),
};
const layerNorm: Projection = {
  kind: 'projection',
  label: 'layer-norm',
  project: (u) => u.withValues(tf.clipByValue(u.values, -1, 1)),
};
const affine: PointwiseStep = { kind: 'pointwise', label: 'affine', apply: (u) => u.withValues(tf.add(u.values, 1)) };

/** `P^ε(v) = v / √(mean_y v² + ε)`: a scale-invariant projection (the RMS sphere) with the ε of checkpoints. */
function rmsProjection(epsilon: number): Projection {
  return {
    kind: 'projection',
    label: `rms(${epsilon})`,
    project: (u) =>
      u.withValues(tf.tidy(() => tf.div(u.values, tf.sqrt(tf.add(tf.mean(tf.square(u.values), -1, true), epsilon))))),
  };
}

function caught(body: () => unknown): SolverError {
  try {
    body();
  } catch (error) {
    expect(error).toBeInstanceOf(SolverError);
    return error as SolverError;
  }
  throw new Error('expected a SolverError');
}

describe('sub-step constructors check the operator kind', () => {
  it('explicitStep(a projection) names what it expected, what arrived and the constructor to use', () => {
    const e = caught(() => explicitStep(layerNorm as never));
    expect(e.subject).toBe('explicitStep: field');
    expect(e.expected).toBe("a VectorField (kind 'vector-field' with evaluate(u, t))");
    expect(e.received).toBe('a Projection (kind \'projection\') "layer-norm"');
    expect(e.fix).toMatch(/^a Projection steps with projectionStep\(P\), or as the Φ of semiImplicitStep\(F, P\)$/);
  });

  it('projectionStep(a rate) and pointwiseStep(a projection) point to explicitStep and projectionStep', () => {
    expect(() => projectionStep(attention as never)).toThrow(
      /projectionStep: projection: expected a Projection \(kind 'projection' with project\(u, t\)\), received a VectorField \(kind 'vector-field'\) "attention"\. Fix: a VectorField steps with explicitStep\(F\)/,
    );
    expect(() => pointwiseStep(layerNorm as never)).toThrow(
      /pointwiseStep: map: expected a PointwiseStep .*received a Projection .*"layer-norm"\. Fix: a Projection steps with projectionStep\(P\)/,
    );
    expect(() => pointwiseStep(attention as never)).toThrow(/Fix: a VectorField steps with explicitStep/);
    expect(() => explicitStep(affine as never)).toThrow(
      /received a PointwiseStep \(kind 'pointwise'\) "affine"\. Fix: a PointwiseStep steps with pointwiseStep\(φ\)/,
    );
  });

  it('semiImplicitStep takes a rate, then a projection or a pointwise map', () => {
    expect(semiImplicitStep(attention, layerNorm).kind).toBe('semi-implicit');
    expect(semiImplicitStep(attention, affine).kind).toBe('semi-implicit');
    expect(() => semiImplicitStep(attention, attention as never)).toThrow(
      /semiImplicitStep: then: expected a Projection \(kind 'projection' with project\(u, t\)\) or a PointwiseStep \(kind 'pointwise' with apply\(u, t\)\), received a VectorField/,
    );
    expect(() => semiImplicitStep(layerNorm as never, affine)).toThrow(
      /semiImplicitStep: field: expected a VectorField/,
    );
  });

  it('refuses a rate without a kind, a kind without its method, and values that are not operators', () => {
    expect(() => explicitStep({ label: 'rate', evaluate: (u: Field) => u } as never)).toThrow(
      /received an object without a kind "rate"\. Fix: implement the operator contract of @tide\/domain: kind 'vector-field' with evaluate\(u, t\)/,
    );
    expect(() => explicitStep({ kind: 'vector-field', label: 'half' } as never)).toThrow(
      /received a VectorField \(kind 'vector-field'\) "half" without evaluate\(\)\. Fix: give it evaluate\(u, t\)/,
    );
    expect(() => explicitStep({ kind: 'rate', label: 'x', evaluate: (u: Field) => u } as never)).toThrow(
      /received an object of kind "rate" "x"/,
    );
    expect(() => explicitStep(((u: Field) => u) as never)).toThrow(
      /explicitStep: field: expected a VectorField .*received function/,
    );
    expect(() => projectionStep(undefined as never)).toThrow(SolverError);
    expect(() => pointwiseStep(null as never)).toThrow(/received null/);
  });

  it('checks every piece of a piecewise-constant schedule up front, naming the piece', () => {
    expect(explicitStep(piecewiseConstant([attention, attention])).kind).toBe('explicit');
    expect(() => explicitStep(piecewiseConstant([attention, layerNorm]) as never)).toThrow(
      /explicitStep: field: .*received a Projection \(kind 'projection'\) "layer-norm" \(piece 1 of the schedule\)/,
    );
    expect(() => projectionStep(piecewiseConstant([layerNorm, affine]) as never)).toThrow(
      /\(piece 1 of the schedule\)\. Fix: a PointwiseStep steps with pointwiseStep/,
    );
    expect(() => explicitStep({ kind: 'schedule', span: [0, 1] } as never)).toThrow(
      /explicitStep: field: expected a schedule \{ kind: 'schedule', span: \[a, b\], at\(t\) \}/,
    );
  });

  it('checks the value a computed schedule gives when a solve reads it, and leaves no tensors behind', () => {
    const u0 = field(tf.tensor3d([[[1, 2]]]));
    const changing = scheduleFromFunction<VectorField>([0, 2], (t) => (t < 1 ? attention : (layerNorm as never)));
    const before = tf.memory().numTensors;
    expect(() => solve(u0, lieSplitting([explicitStep(changing)]), { t1: 2, saveAt: 'steps' })).toThrow(
      /solve: explicitStep: field: expected a VectorField .*received a Projection \(kind 'projection'\) "layer-norm" \(the schedule's value at t = 1\.5\)\. Fix: a Projection steps with projectionStep/,
    );
    expect(tf.memory().numTensors).toBe(before);
    const mapped = mapSchedule(piecewiseConstant([1, 2]), (k) => (k === 1 ? layerNorm : (attention as never)));
    expect(() => solve(u0, lieSplitting([projectionStep(mapped)]), { t1: 2 })).toThrow(
      /solve: projectionStep: projection: .*"attention" \(the schedule's value at t = 1\.5\)/,
    );
    expect(tf.memory().numTensors).toBe(before);
    u0.dispose();
  });

  it('checks fraction, method and at', () => {
    expect(() => explicitStep(attention, { fraction: NaN })).toThrow(
      /explicitStep: fraction: expected a finite fraction f of Δt, received NaN/,
    );
    expect(() => explicitStep(attention, { method: 'rk4' as never })).toThrow(
      /explicitStep: method: expected 'euler' or 'heun', received "rk4"/,
    );
    expect(() => projectionStep(layerNorm, { at: 1.5 })).toThrow(/projectionStep: at: expected a number in \[0, 1\]/);
    expect(() => semiImplicitStep(attention, layerNorm, { fraction: Infinity })).toThrow(SolverError);
    expect(() => pointwiseStep(affine, null as never)).toThrow(/pointwiseStep: options: expected an options object/);
  });
});

describe('relaxationStep: weights', () => {
  it('defaults to equal weights and keeps finite weights of any sum', () => {
    expect(relaxationStep([2, 0]).weights).toEqual([0.5, 0.5]);
    expect(relaxationStep([3, 1, 0]).weights).toEqual([1 / 3, 1 / 3, 1 / 3]);
    expect(relaxationStep([1, 0], [1, -1]).weights).toEqual([1, -1]);
  });

  it('refuses weights of another length, non-finite weights, and bad stage lists', () => {
    const e = caught(() => relaxationStep([5, 3], [0.5]));
    expect(e.subject).toBe('relaxationStep: weights');
    expect(e.expected).toBe('one finite weight per stage (2 for stages [5, 3])');
    expect(e.received).toBe('[0.5]');
    expect(() => relaxationStep([1, 0], [0.5, NaN])).toThrow(/received \[0\.5, NaN\]/);
    expect(() => relaxationStep([1, 0], [Infinity, 0])).toThrow(SolverError);
    expect(() => relaxationStep([1, 0], ['½', 0.5] as never)).toThrow(/received \["½", 0\.5\]/);
    expect(() => relaxationStep([1, 0], 0.5 as never)).toThrow(/relaxationStep: weights: .*received 0\.5/);
    expect(() => relaxationStep([])).toThrow(
      /relaxationStep: stages: expected a non-empty list of stage indices \(integers ≥ 0\), received \[\]/,
    );
    expect(() => relaxationStep([1, -1])).toThrow(/received \[1, -1\]/);
    expect(() => relaxationStep([0.5])).toThrow(SolverError);
  });
});

describeEachBackend('relaxation with weights other than ½', () => {
  const double = new LinearField(
    [
      [2, 0],
      [0, 2],
    ],
    'double',
  );

  it('combines the stages with its weights: ¼, ¾ (convex), 1, −1 (a difference), equal thirds', () => {
    const u0 = field(tf.tensor3d([[[1, -2]]]));
    // u1 = u + F(u) = 3u (F = 2u, Δt = 1), u2 = 3 u1 = 9u.
    const run = (relax: ReturnType<typeof relaxationStep>) => {
      const sol = solve(u0, lieSplitting([explicitStep(double), explicitStep(double), relax]), { t1: 1 });
      const v = Array.from(sol.u.values.dataSync());
      sol.dispose();
      return v;
    };
    expect(run(relaxationStep([1, 0], [0.25, 0.75]))).toEqual([0.25 * 3 + 0.75, -2 * (0.25 * 3 + 0.75)]);
    expect(run(relaxationStep([2, 1], [1, -1]))).toEqual([6, -12]);
    const thirds = run(relaxationStep([2, 1, 0]));
    expectClose(thirds, [13 / 3, -26 / 3], { atol: 1e-5, rtol: 1e-6 });
    u0.dispose();
  });

  it('[1, 1] then P^ε is the same layer as the default [½, ½] then P^{ε/4} (a scale-invariant projection)', async () => {
    const u0 = field(
      tf.tensor3d([
        [
          [0.3, -1.2, 0.7],
          [2, 0.1, -0.4],
        ],
      ]),
    );
    const rate = new LinearField(
      [
        [0.1, 0.4, 0],
        [-0.3, 0.2, 0.5],
        [0, -0.6, 0.1],
      ],
      'F',
    );
    const eps = 0.3;
    const half = solve(
      u0,
      lieSplitting([explicitStep(rate), relaxationStep([1, 0]), projectionStep(rmsProjection(eps / 4))]),
      { t1: 1 },
    );
    const sum = solve(
      u0,
      lieSplitting([explicitStep(rate), relaxationStep([1, 0], [1, 1]), projectionStep(rmsProjection(eps))]),
      { t1: 1 },
    );
    expectClose(half.u.values, sum.u.values, { atol: 1e-6, rtol: 1e-5 });
    half.dispose();
    sum.dispose();
    await expectNoLeaks(() =>
      solve(u0, lieSplitting([explicitStep(rate), relaxationStep([1, 0], [0.2, 0.8])]), {
        t1: 2,
        step: { dt: 0.5 },
      }).dispose(),
    );
    u0.dispose();
  });
});
