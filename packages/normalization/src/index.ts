/**
 * `@tide/normalization`: constraint sets and projections (paper §3; docs/projections.md): LayerNorm as the projection
 * onto S₁(σ₁(t), σ₂(t)), the RMS sphere, the affine sub-step of real checkpoints, and distances to the sets.
 *
 * (The non-negative cone S₂, whose projection is ReLU, lives with the activations in `@tide/feedforward`.)
 *
 * @packageDocumentation
 */
export { LayerNormConstraint, layerNormConstraint } from './layer-norm-constraint.js';
export type { LayerNormConstraintOptions } from './layer-norm-constraint.js';
export { RmsSphereConstraint, rmsSphereConstraint } from './rms-sphere-constraint.js';
export type { RmsSphereConstraintOptions } from './rms-sphere-constraint.js';
export { AffineStep, affineStep } from './affine-step.js';
export { distanceToConstraint } from './distance.js';
export type { MeasurableConstraint } from './distance.js';
export { featureMoments, featureMeanSquare } from './feature-moments.js';
export { evaluateTarget } from './target.js';
export type { TimeTarget } from './target.js';
export { PreNormRate, preNormRate } from './pre-norm-rate.js';
