/**
 * `@tide/domain`: domains, grids, quadrature rules, discrete fields, resampling, causal sub-domains and
 * the operator contract of TIDE (paper §2–§3; docs/domains-and-quadrature.md).
 *
 * @packageDocumentation
 */
export { ShapeError, DomainError } from './errors.js';
export { interval, rectangle } from './interval.js';
export type { Interval, Rectangle, Domain } from './interval.js';
export { makeGrid, customGrid, integrate } from './grid.js';
export type { Grid, ImageLayout, QuadratureRuleName } from './grid.js';
export { midpointRule, tokenGrid, featureGrid } from './midpoint.js';
export { trapezoidRule } from './trapezoid.js';
export { gaussLegendreRule } from './gauss-legendre.js';
export { productGrid } from './product-grid.js';
export { imageTokenGrid, imageLayoutOf, checkPatchGrid } from './image-grid.js';
export type { ImageTokenGridOptions } from './image-grid.js';
export { bicubicMatrix, resampleImageField } from './bicubic.js';
export { Field, field, checkField } from './field.js';
export type { FieldOptions } from './field.js';
export { interpolationMatrix, restrictionMatrix, resampleTokens, resampleFeatures } from './resample.js';
export type { InterpolationOrder } from './resample.js';
export { causalSubdomain } from './causal.js';
export type { CausalSubdomain } from './causal.js';
export type { VectorField, Projection, PointwiseStep, Operator, HasParameters, TokenMap } from './operator.js';
export {
  OPERATOR_KINDS,
  operatorKindOf,
  isOperatorOf,
  describeOperator,
  operatorKindMismatch,
  checkOperator,
} from './operator-kinds.js';
export type { OperatorKind, OperatorKindContract, OperatorKindMismatch } from './operator-kinds.js';

// The engine, re-exported so that a user of this package alone can start it and build tensors.
export { tf, initEngine, engineInfo, TideError, BackendError } from '@tide/backend';
export type { BackendName, EngineInfo, EngineOptions } from '@tide/backend';
