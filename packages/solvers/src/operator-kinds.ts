/**
 * Which operator kind a sub-step or scheme takes, for time-dependent operators (docs/splitting-and-recovery.md):
 * checked when a sub-step is built (a constant, or each listed piece of a schedule) and when a solve reads a
 * schedule's value. The kinds themselves and their check are `@tide/domain`'s (`isOperatorOf`,
 * `operatorKindMismatch`); this file adds only what schedules need.
 */
import { describeValue } from '@tide/backend';
import { isOperatorOf, operatorKindMismatch, type Operator, type OperatorKind } from '@tide/domain';
import { SolverError } from './errors.js';
import { isSchedule, valueAt, type TimeDependent } from './schedule.js';

/**
 * The {@link SolverError} for an operator of the wrong kind (or none), with `operatorKindMismatch`'s details from
 * `@tide/domain`; `where` says which value of a schedule it was.
 */
function kindError(subject: string, value: unknown, kinds: readonly OperatorKind[], where = ''): SolverError {
  const details = operatorKindMismatch(value, kinds);
  return new SolverError(subject, { ...details, received: `${details.received}${where}` });
}

/**
 * Throws a {@link SolverError} unless `value` is an operator of one of `kinds`; for a schedule, unless it is
 * a well-formed schedule whose listed pieces (see `Schedule.pieces`) all are. A schedule's other values are
 * checked as a solve reads them ({@link operatorAt}).
 */
export function checkTimeDependent(
  subject: string,
  value: TimeDependent<unknown>,
  kinds: readonly OperatorKind[],
): void {
  if (!isSchedule(value)) {
    if (!isOperatorOf(value, kinds)) throw kindError(subject, value, kinds);
    return;
  }
  const span = value.span as unknown;
  if (typeof value.at !== 'function' || !Array.isArray(span) || span.length !== 2) {
    throw new SolverError(subject, {
      expected: "a schedule { kind: 'schedule', span: [a, b], at(t) }",
      received: `a schedule with at ${describeValue(value.at)} and span ${describeValue(span)}`,
      fix: 'build schedules with piecewiseConstant, linearInterpolation, scheduleFromFunction or mapSchedule',
    });
  }
  value.pieces?.forEach((piece, i) => {
    if (!isOperatorOf(piece, kinds)) throw kindError(subject, piece, kinds, ` (piece ${i} of the schedule)`);
  });
}

/** The operator at time t, checked: a schedule's value is checked each time it is read. */
export function operatorAt<T extends Operator>(
  subject: string,
  value: TimeDependent<T>,
  t: number,
  kinds: readonly OperatorKind[],
): T {
  const op = valueAt(value, t);
  if (!isOperatorOf(op, kinds))
    throw kindError(`solve: ${subject}`, op, kinds, isSchedule(value) ? ` (the schedule's value at t = ${t})` : '');
  return op;
}
