/**
 * Parameter schedules θ(t) (paper §2): the controls are functions of time. A trained discrete network gives
 * piecewise-constant θ (one piece per layer, layer i on [i, i+1)); smoother schedules interpolate between
 * layer centres; any function of t is allowed. A schedule knows the span it covers, so a solve can refuse
 * a schedule that does not cover [t0, t1].
 */
import { tf, describeValue } from '@tide/backend';
import { SolverError } from './errors.js';

/** A value that depends on time, defined on `span`. */
export interface Schedule<T> {
  readonly kind: 'schedule';
  /** The closed interval [a, b] on which `at` is defined. */
  readonly span: readonly [number, number];
  at(t: number): T;
  /**
   * The values the schedule takes, when it takes finitely many known in advance (a piecewise-constant θ):
   * sub-step constructors check each one up front. Absent for interpolated or computed schedules, whose
   * values are checked as a solve reads them.
   */
  readonly pieces?: readonly T[];
  /**
   * Times inside the span where the value may jump (a piecewise-constant θ's piece boundaries). An adaptive
   * solve ends steps exactly there, so no step straddles a jump and no rate is reused across one.
   */
  readonly jumps?: readonly number[];
}

/** A constant or a schedule. */
export type TimeDependent<T> = T | Schedule<T>;

/** True for a {@link Schedule}. */
export function isSchedule<T>(value: TimeDependent<T>): value is Schedule<T> {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'schedule';
}

/** The value at t (a constant is its own value). */
export function valueAt<T>(value: TimeDependent<T>, t: number): T {
  return isSchedule(value) ? value.at(t) : value;
}

function checkPieces(subject: string, pieces: readonly unknown[]): void {
  if (!Array.isArray(pieces) || pieces.length === 0) {
    throw new SolverError(subject, {
      expected: 'at least one piece',
      received: describeValue(pieces),
      fix: 'pass one value per layer',
    });
  }
}

/**
 * θ(t) = pieces[i] on [t0 + i·duration, t0 + (i+1)·duration) (the last piece includes its right end).
 * With t0 = 0 and duration = 1 this is a trained network: layer i is the unit time interval [i, i+1).
 */
export function piecewiseConstant<T>(
  pieces: readonly T[],
  options: { t0?: number; duration?: number } = {},
): Schedule<T> {
  checkPieces('piecewiseConstant', pieces);
  const t0 = options.t0 ?? 0;
  const duration = options.duration ?? 1;
  if (!(duration > 0) || !Number.isFinite(duration) || !Number.isFinite(t0)) {
    throw new SolverError('piecewiseConstant: duration', {
      expected: 'a finite t0 and duration > 0',
      received: `t0 = ${t0}, duration = ${duration}`,
      fix: 'one unit of time per layer is duration 1',
    });
  }
  const span = [t0, t0 + pieces.length * duration] as const;
  const values = Object.freeze([...pieces]);
  return {
    kind: 'schedule',
    span,
    pieces: values,
    jumps: Object.freeze(Array.from({ length: pieces.length - 1 }, (_, i) => t0 + (i + 1) * duration)),
    at(t: number): T {
      const i = Math.min(values.length - 1, Math.max(0, Math.floor((t - t0) / duration)));
      return values[i]!;
    },
  };
}

/**
 * Linear interpolation between knots: θ(t) = (1 − s)·θ_i + s·θ_{i+1} for t between knot i and i+1, constant
 * beyond the first and last knot. `knots` default to layer centres `t0 + (i + ½)·duration`; the span is
 * `[t0, t0 + n·duration]`. `lerp(a, b, s)` combines two values (see {@link lerpTensors} for records of tensors);
 * values it creates are owned by the caller (a solve disposes them after each step).
 */
export function linearInterpolation<T>(
  pieces: readonly T[],
  lerp: (a: T, b: T, s: number) => T,
  options: { t0?: number; duration?: number } = {},
): Schedule<T> {
  checkPieces('linearInterpolation', pieces);
  const t0 = options.t0 ?? 0;
  const duration = options.duration ?? 1;
  const knot = (i: number) => t0 + (i + 0.5) * duration;
  return {
    kind: 'schedule',
    span: [t0, t0 + pieces.length * duration],
    at(t: number): T {
      if (pieces.length === 1 || t <= knot(0)) return lerp(pieces[0]!, pieces[0]!, 0);
      const last = pieces.length - 1;
      if (t >= knot(last)) return lerp(pieces[last]!, pieces[last]!, 0);
      const i = Math.min(last - 1, Math.floor((t - knot(0)) / duration));
      return lerp(pieces[i]!, pieces[i + 1]!, (t - knot(i)) / duration);
    },
  };
}

/** Any function of t on `span`. */
export function scheduleFromFunction<T>(span: readonly [number, number], f: (t: number) => T): Schedule<T> {
  if (!(span[0] < span[1])) {
    throw new SolverError('scheduleFromFunction: span', {
      expected: 'a < b',
      received: `[${span[0]}, ${span[1]}]`,
      fix: 'give the interval on which f is defined',
    });
  }
  return { kind: 'schedule', span, at: f };
}

/** A schedule of g(θ(t)): e.g. operators built from a schedule of parameters. It keeps θ's jumps. */
export function mapSchedule<A, B>(schedule: Schedule<A>, g: (value: A, t: number) => B): Schedule<B> {
  const mapped: Schedule<B> = { kind: 'schedule', span: schedule.span, at: (t) => g(schedule.at(t), t) };
  return schedule.jumps === undefined ? mapped : { ...mapped, jumps: schedule.jumps };
}

/**
 * `(1 − s)·a + s·b` for records of tensors with the same keys (undefined entries stay undefined). The result's
 * tensors are new (s = 0 returns clones), owned by the caller.
 */
export function lerpTensors<T extends Record<string, tf.Tensor | undefined>>(a: T, b: T, s: number): T {
  const out: Record<string, tf.Tensor | undefined> = {};
  for (const key of Object.keys(a)) {
    const x = a[key];
    const y = b[key];
    out[key] =
      x === undefined || y === undefined
        ? undefined
        : s === 0
          ? tf.clone(x)
          : tf.tidy(() => tf.add(tf.mul(x, 1 - s), tf.mul(y, s)));
  }
  return out as T;
}

/** Throws a {@link SolverError} unless the schedule covers [t0, t1]. */
export function checkCoverage(label: string, value: TimeDependent<unknown>, t0: number, t1: number): void {
  if (!isSchedule(value)) return;
  const [a, b] = value.span;
  const slack = 1e-9 * Math.max(1, Math.abs(t1));
  if (a > t0 + slack || b < t1 - slack) {
    throw new SolverError(`solve: schedule of ${label}`, {
      expected: `a schedule covering the solve span [${t0}, ${t1}]`,
      received: `a schedule on [${a}, ${b}]`,
      fix: 'give one piece per unit of time (per layer) over the whole span, or shorten the span',
    });
  }
}
