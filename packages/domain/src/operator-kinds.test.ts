import { describe, expect, it } from 'vitest';
import { DomainError } from './errors.js';
import {
  OPERATOR_KINDS,
  checkOperator,
  describeOperator,
  isOperatorOf,
  operatorKindMismatch,
  operatorKindOf,
} from './operator-kinds.js';

// Stand-ins: the kind check reads only `kind`, `label` and the method, never a field.
const identity = (u: unknown) => u;
const rate = { kind: 'vector-field', label: 'attention', evaluate: identity };
const projection = { kind: 'projection', label: 'layer-norm', project: identity };
const pointwise = { kind: 'pointwise', label: 'gelu', apply: identity };

describe('operator kinds', () => {
  it('is one frozen row per kind: name, method, the solver constructors that step with it', () => {
    expect(Object.keys(OPERATOR_KINDS)).toEqual(['vector-field', 'projection', 'pointwise']);
    expect(Object.values(OPERATOR_KINDS).map((c) => [c.name, c.method])).toEqual([
      ['a VectorField', 'evaluate'],
      ['a Projection', 'project'],
      ['a PointwiseStep', 'apply'],
    ]);
    expect(OPERATOR_KINDS.projection.stepsWith).toBe('projectionStep(P), or as the Φ of semiImplicitStep(F, P)');
    expect(Object.isFrozen(OPERATOR_KINDS) && Object.isFrozen(OPERATOR_KINDS.pointwise)).toBe(true);
  });

  it('accepts each kind with its method, and only among the kinds asked for', () => {
    expect(isOperatorOf(rate, ['vector-field'])).toBe(true);
    expect(isOperatorOf(projection, ['projection'])).toBe(true);
    expect(isOperatorOf(pointwise, ['pointwise'])).toBe(true);
    expect(isOperatorOf(pointwise, ['projection', 'pointwise'])).toBe(true);
    expect(isOperatorOf(projection, ['vector-field', 'pointwise'])).toBe(false);
    expect(isOperatorOf(rate, [])).toBe(false);
    expect([rate, projection, pointwise].map(operatorKindOf)).toEqual(['vector-field', 'projection', 'pointwise']);
  });

  it('rejects a missing method, a missing or unknown kind, and a non-object', () => {
    expect(isOperatorOf({ kind: 'vector-field', label: 'x' }, ['vector-field'])).toBe(false);
    expect(isOperatorOf({ kind: 'projection', project: 'not a function' }, ['projection'])).toBe(false);
    expect(isOperatorOf({ label: 'rate', evaluate: identity }, ['vector-field'])).toBe(false);
    expect(isOperatorOf({ kind: 'toString', toString: identity }, ['vector-field'])).toBe(false);
    for (const value of [undefined, null, 3, 'projection', identity])
      expect(isOperatorOf(value, ['vector-field', 'projection', 'pointwise'])).toBe(false);
    expect(operatorKindOf({ kind: 'matrix' })).toBeUndefined();
    expect(operatorKindOf({ kind: 'toString' })).toBeUndefined();
    expect(operatorKindOf('pointwise')).toBeUndefined();
  });

  it('describes what arrived: its kind and label, or what else it is', () => {
    expect(describeOperator(projection)).toBe(`a Projection (kind 'projection') "layer-norm"`);
    expect(describeOperator({ kind: 'pointwise', apply: identity })).toBe(`a PointwiseStep (kind 'pointwise')`);
    expect(describeOperator({ label: 'rate', evaluate: identity })).toBe('an object without a kind "rate"');
    expect(describeOperator({ kind: 'matrix', label: 'w' })).toBe('an object of kind "matrix" "w"');
    expect(describeOperator(undefined)).toBe('undefined');
    expect(describeOperator(identity)).toBe('function');
  });

  it('gives the error details for a wrong kind: which constructor takes what arrived', () => {
    expect(operatorKindMismatch(pointwise, ['projection'])).toEqual({
      expected: "a Projection (kind 'projection' with project(u, t))",
      received: `a PointwiseStep (kind 'pointwise') "gelu"`,
      fix: 'a PointwiseStep steps with pointwiseStep(φ), or as the Φ of semiImplicitStep(F, φ)',
    });
    expect(operatorKindMismatch(rate, ['projection', 'pointwise']).expected).toBe(
      "a Projection (kind 'projection' with project(u, t)) or a PointwiseStep (kind 'pointwise' with apply(u, t))",
    );
  });

  it('gives the error details for a missing method and for a missing kind', () => {
    expect(operatorKindMismatch({ kind: 'vector-field', label: 'x' }, ['vector-field'])).toEqual({
      expected: "a VectorField (kind 'vector-field' with evaluate(u, t))",
      received: `a VectorField (kind 'vector-field') "x" without evaluate()`,
      fix: 'give it evaluate(u, t) (the operator contract of @tide/domain)',
    });
    expect(operatorKindMismatch({ label: 'rate' }, ['projection', 'pointwise'])).toEqual({
      expected:
        "a Projection (kind 'projection' with project(u, t)) or a PointwiseStep (kind 'pointwise' with apply(u, t))",
      received: 'an object without a kind "rate"',
      fix: "implement the operator contract of @tide/domain: kind 'projection' or 'pointwise' with project(u, t) or apply(u, t)",
    });
    expect(operatorKindMismatch(null, ['pointwise']).received).toBe('null');
  });

  it("checkOperator passes an operator and throws a DomainError with the details (or the caller's fix) otherwise", () => {
    expect(() => checkOperator('test: op', projection, ['projection'])).not.toThrow();
    expect(() => checkOperator('test: op', pointwise, ['projection'])).toThrow(DomainError);
    expect(() => checkOperator('test: op', pointwise, ['projection'])).toThrow(
      `test: op: expected a Projection (kind 'projection' with project(u, t)), received a PointwiseStep (kind 'pointwise') "gelu". Fix: a PointwiseStep steps with pointwiseStep(φ), or as the Φ of semiImplicitStep(F, φ)`,
    );
    try {
      checkOperator('test: op', 3, ['vector-field'], 'pass a rate');
      expect.unreachable();
    } catch (error) {
      expect(error).toMatchObject({ subject: 'test: op', received: '3', fix: 'pass a rate' });
    }
  });
});
