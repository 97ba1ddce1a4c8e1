/**
 * Time grids: the step boundaries t0 < t1 < … < tN = T of a solve, from a step Δt or a number of steps
 * per unit time (k steps per layer: Δt = 1/k). Δt is adjusted down so that the steps end exactly at T.
 */
import { describeValue } from '@tide/backend';
import { SolverError } from './errors.js';

/** How to cut [t0, t1] into steps: a step size, or a number of steps per unit time. */
export type StepControl = { readonly dt: number } | { readonly stepsPerUnit: number };

/** Throws a {@link SolverError} unless t0 and t1 are finite with t1 > t0. */
export function checkSpan(t0: number, t1: number): void {
  if (typeof t0 !== 'number' || typeof t1 !== 'number' || !Number.isFinite(t0) || !Number.isFinite(t1)) {
    throw new SolverError('timeGrid: span', {
      expected: 'finite t0 and t1',
      received: `t0 = ${describeValue(t0)}, t1 = ${describeValue(t1)}`,
      fix: 'pass finite times, e.g. t0 = 0, t1 = number of layers',
    });
  }
  if (!(t1 > t0)) {
    throw new SolverError('timeGrid: span', {
      expected: 't1 > t0',
      received: `[${t0}, ${t1}]`,
      fix: 'integrate forward in time over a non-empty span',
    });
  }
}

/** The step boundaries `[t0, …, t1]` (N + 1 numbers, uniform). */
export function timeGrid(t0: number, t1: number, control: StepControl): number[] {
  checkSpan(t0, t1);
  let dt: number;
  if ('dt' in control) {
    dt = control.dt;
    if (typeof dt !== 'number' || !Number.isFinite(dt) || dt <= 0) {
      throw new SolverError('timeGrid: dt', {
        expected: 'a finite Δt > 0',
        received: describeValue(dt),
        fix: 'Δt = 1 is one layer per step',
      });
    }
  } else {
    const k = control.stepsPerUnit;
    if (!Number.isInteger(k) || k < 1) {
      throw new SolverError('timeGrid: stepsPerUnit', {
        expected: 'an integer ≥ 1',
        received: describeValue(k),
        fix: 'k steps per layer gives Δt = 1/k',
      });
    }
    dt = 1 / k;
  }
  const n = Math.max(1, Math.ceil((t1 - t0) / dt - 1e-9));
  return Array.from({ length: n + 1 }, (_, i) => (i === n ? t1 : t0 + (i * (t1 - t0)) / n));
}
