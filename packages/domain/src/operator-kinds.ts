/**
 * The three kinds of the operator contract ({@link Operator}; paper §3, docs/splitting-and-recovery.md "Sub-steps"):
 * what each is called, the method it must have, and which solver sub-step takes it. Every package that accepts
 * an operator checks it here and wraps the same error details in its own typed error.
 */
import { describeValue } from '@tide/backend';
import { DomainError } from './errors.js';
import type { Operator } from './operator.js';

/** The `kind` of an operator of the contract: `'vector-field'`, `'projection'` or `'pointwise'`. */
export type OperatorKind = Operator['kind'];

/** What one kind of the operator contract is called, the method it must have, and how a solver steps with it. */
export interface OperatorKindContract {
  /** A readable name, e.g. `"a Projection"`. */
  readonly name: string;
  /** The method `(u, t) ↦ Field` the kind must have: `evaluate`, `project` or `apply`. */
  readonly method: string;
  /** The `@tide/solvers` constructors that step with an operator of this kind. */
  readonly stepsWith: string;
}

/**
 * The operator contract as data, one row per kind (docs/splitting-and-recovery.md "Sub-steps"):
 *
 * | kind | name | method | steps with |
 * |---|---|---|---|
 * | `'vector-field'` | a VectorField | `evaluate(u, t)` | `explicitStep(F)`, or `semiImplicitStep(F, Φ)` |
 * | `'projection'` | a Projection | `project(u, t)` | `projectionStep(P)`, or the Φ of `semiImplicitStep(F, P)` |
 * | `'pointwise'` | a PointwiseStep | `apply(u, t)` | `pointwiseStep(φ)`, or the Φ of `semiImplicitStep(F, φ)` |
 */
export const OPERATOR_KINDS: Readonly<Record<OperatorKind, OperatorKindContract>> = Object.freeze({
  'vector-field': Object.freeze({
    name: 'a VectorField',
    method: 'evaluate',
    stepsWith: 'explicitStep(F), or semiImplicitStep(F, Φ) with a projection or pointwise map after it',
  }),
  projection: Object.freeze({
    name: 'a Projection',
    method: 'project',
    stepsWith: 'projectionStep(P), or as the Φ of semiImplicitStep(F, P)',
  }),
  pointwise: Object.freeze({
    name: 'a PointwiseStep',
    method: 'apply',
    stepsWith: 'pointwiseStep(φ), or as the Φ of semiImplicitStep(F, φ)',
  }),
});

/** The three parts of the error for a value that is not an operator of the expected kinds (see `TideError`). */
export interface OperatorKindMismatch {
  /** The kinds expected, each with its method: `a Projection (kind 'projection' with project(u, t))`. */
  readonly expected: string;
  /** What arrived: `a PointwiseStep (kind 'pointwise') "affine"`, `… without evaluate()`, `undefined`, …. */
  readonly received: string;
  /** Which constructor takes what arrived, the missing method, or the contract to implement. */
  readonly fix: string;
}

/** The `kind` field of an object, whatever it holds; `undefined` for anything else. */
function rawKind(value: unknown): unknown {
  return typeof value === 'object' && value !== null ? (value as { kind?: unknown }).kind : undefined;
}

function isKind(kind: unknown): kind is OperatorKind {
  return typeof kind === 'string' && Object.hasOwn(OPERATOR_KINDS, kind);
}

/**
 * The kind of the contract that `value` declares (its `kind` field), or `undefined` when it is not an object or
 * its `kind` is not one of the three. It does not check the method: see {@link isOperatorOf}.
 */
export function operatorKindOf(value: unknown): OperatorKind | undefined {
  const kind = rawKind(value);
  return isKind(kind) ? kind : undefined;
}

/**
 * True when `value` is an object of one of `kinds` with that kind's method (`evaluate`, `project` or `apply`)
 * as a function.
 *
 * @param kinds the accepted kinds, e.g. `['projection', 'pointwise']` for the Φ of a semi-implicit step
 */
export function isOperatorOf(value: unknown, kinds: readonly OperatorKind[]): value is Operator {
  const kind = operatorKindOf(value);
  return (
    kind !== undefined &&
    kinds.includes(kind) &&
    typeof (value as Record<string, unknown>)[OPERATOR_KINDS[kind].method] === 'function'
  );
}

/**
 * A short description of a would-be operator for error messages: `a Projection (kind 'projection') "layer-norm"`,
 * `an object without a kind "rate"`, `an object of kind "matrix"`, or {@link describeValue} of a non-object.
 */
export function describeOperator(value: unknown): string {
  if (typeof value !== 'object' || value === null) return describeValue(value);
  const kind = rawKind(value);
  const label = (value as { label?: unknown }).label;
  const named = typeof label === 'string' ? ` "${label}"` : '';
  if (isKind(kind)) return `${OPERATOR_KINDS[kind].name} (kind '${kind}')${named}`;
  if (kind === undefined) return `an object without a kind${named}`;
  return `an object of kind ${describeValue(kind)}${named}`;
}

/**
 * The error details for a `value` that is not an operator of one of `kinds`: what was expected, what arrived
 * (with `without <method>()` when the kind is right but the method is missing), and the fix — the solver
 * constructor that steps with a wrong but valid kind, the missing method, or the contract to implement. Each
 * package wraps them in its own typed error (`new SolverError(subject, details)`).
 */
export function operatorKindMismatch(value: unknown, kinds: readonly OperatorKind[]): OperatorKindMismatch {
  const kind = operatorKindOf(value);
  const expected = kinds
    .map((k) => `${OPERATOR_KINDS[k].name} (kind '${k}' with ${OPERATOR_KINDS[k].method}(u, t))`)
    .join(' or ');
  if (kind === undefined) {
    const wanted = kinds.map((k) => `'${k}'`).join(' or ');
    const methods = kinds.map((k) => `${OPERATOR_KINDS[k].method}(u, t)`).join(' or ');
    return {
      expected,
      received: describeOperator(value),
      fix: `implement the operator contract of @tide/domain: kind ${wanted} with ${methods}`,
    };
  }
  const { name, method, stepsWith } = OPERATOR_KINDS[kind];
  if (!kinds.includes(kind))
    return { expected, received: describeOperator(value), fix: `${name} steps with ${stepsWith}` };
  return {
    expected,
    received: `${describeOperator(value)} without ${method}()`,
    fix: `give it ${method}(u, t) (the operator contract of @tide/domain)`,
  };
}

/**
 * Throws a {@link DomainError} unless `value` is an operator of one of `kinds` with its method
 * ({@link isOperatorOf}); the message is {@link operatorKindMismatch}'s.
 *
 * @param subject what is being checked, e.g. `"preNormRate: inner"`
 * @param fix replaces the default fix, for a caller that knows what belongs there
 * @throws DomainError when `value` is not an operator of one of `kinds`
 */
export function checkOperator(
  subject: string,
  value: unknown,
  kinds: readonly OperatorKind[],
  fix?: string,
): asserts value is Operator {
  if (isOperatorOf(value, kinds)) return;
  const details = operatorKindMismatch(value, kinds);
  throw new DomainError(subject, fix === undefined ? details : { ...details, fix });
}
