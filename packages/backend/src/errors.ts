/**
 * Typed errors of TIDE.
 *
 * Every error says three things, so that a user can act on it without reading our source:
 * the rule that was broken (`expected`), what arrived (`received`), and how to fix it (`fix`).
 * Each package subclasses {@link TideError} for its own concern (`ShapeError`, `DomainError`, …).
 */

/** The three parts of every TIDE error message. */
export interface TideErrorDetails {
  /** The rule, or the value that was expected. */
  readonly expected: string;
  /** What actually arrived. */
  readonly received: string;
  /** How to fix it. */
  readonly fix?: string;
  /** The underlying error, when one was caught. */
  readonly cause?: unknown;
}

/**
 * Base class of every error TIDE throws on purpose.
 *
 * The message reads `"<subject>: expected <expected>, received <received>. Fix: <fix>"`.
 * The parts are also kept as fields, so that programs can inspect them.
 */
export class TideError extends Error {
  /** What was being checked, e.g. `"attention: query field"`. */
  readonly subject: string;
  readonly expected: string;
  readonly received: string;
  readonly fix: string | undefined;

  constructor(subject: string, details: TideErrorDetails) {
    const fix = details.fix === undefined ? '' : ` Fix: ${details.fix}`;
    super(`${subject}: expected ${details.expected}, received ${details.received}.${fix}`, {
      cause: details.cause,
    });
    this.name = new.target.name;
    this.subject = subject;
    this.expected = details.expected;
    this.received = details.received;
    this.fix = details.fix;
  }
}

/** A backend could not be chosen or initialised. */
export class BackendError extends TideError {}

/** Formats a shape the way error messages print it: `[2, 3, 4]`. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** A short, safe description of any value for an error message. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value))
    return `a ${value.constructor.name} of length ${'length' in value ? Number(value.length) : value.byteLength}`;
  if (typeof value === 'object') {
    // Values may come from hostile files: read no more than one level, and no `constructor` key of their own.
    const shape = (value as { shape?: unknown }).shape;
    if (Array.isArray(shape) && shape.length <= 16 && shape.every((s) => typeof s === 'number')) {
      return `a tensor of shape ${formatShape(shape as number[])}`;
    }
    const proto: unknown = Object.getPrototypeOf(value);
    const ctor = proto === null ? undefined : (proto as { constructor?: { name?: unknown } }).constructor;
    return `an object (${typeof ctor?.name === 'string' ? ctor.name.slice(0, 40) : 'Object'})`;
  }
  return typeof value;
}

/**
 * Throws the error built by `makeError` when `condition` is false.
 * The error is built lazily (a thunk), so hot paths format no strings.
 */
export function invariant(condition: unknown, makeError: () => Error): asserts condition {
  if (!condition) throw makeError();
}
