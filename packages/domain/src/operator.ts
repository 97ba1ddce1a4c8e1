/**
 * The operator contract shared by attention, feedforward, normalisation and the solvers (paper §3; docs/splitting-and-recovery.md).
 *
 * The continuous model is `u_t + ∂I_{S₁}(u) + ∂I_{S₂}(u) ∋ A[u] + Σ_j (W_j[u] + b_j)`. Its discrete pieces
 * come in three kinds, and a splitting scheme composes them:
 *
 * - {@link VectorField}: a rate `F(u, t)`, used explicitly `u ← u + Δt·F(u, t)` (attention, the W_j[u] + b_j).
 * - {@link Projection}: the nearest point of a constraint set, `u ← P_{S(t)}(u)` (LayerNorm, ReLU); exact for
 *   any Δt because a normal cone is scale-free.
 * - {@link PointwiseStep}: a map `u ← φ_t(u)` that is neither (GELU, the affine γ(y)·u + β(y)).
 *
 * Rules every implementation keeps:
 * 1. It never disposes or mutates its input; it returns a new {@link Field} that the caller owns.
 * 2. It keeps the input's batch and token grid; only a feature lift may change the feature grid.
 * 3. Intermediate tensors are disposed: the only surviving tensor is the output's `values`.
 * 4. It is differentiable through tfjs autodiff with respect to the field and its parameters.
 */
import type { tf } from '@tide/backend';
import type { Field } from './field.js';

/** A rate `F(u, t)`: the right-hand side of `u_t = F(u, t)`. */
export interface VectorField {
  readonly kind: 'vector-field';
  /** A short name for statistics and error messages, e.g. `"attention"`. */
  readonly label: string;
  evaluate(u: Field, t: number): Field;
  /**
   * Only for a rate whose output lives on another feature grid (a lifted hidden domain, docs/feedforward.md): the
   * embedding `J u` of the state into that grid (zero-extension E or restriction R = Eᵀ), so that the
   * explicit step reads `u ← J u + Δt·F(u, t)`. Absent when F keeps the feature grid (J = I).
   */
  embed?(u: Field): Field;
}

/** The projection onto a (time-dependent) constraint set `S(t)`. */
export interface Projection {
  readonly kind: 'projection';
  readonly label: string;
  project(u: Field, t: number): Field;
}

/** A pointwise (per token, per feature) map `u ↦ φ_t(u)`. */
export interface PointwiseStep {
  readonly kind: 'pointwise';
  readonly label: string;
  apply(u: Field, t: number): Field;
}

/** Any operator of the contract. */
export type Operator = VectorField | Projection | PointwiseStep;

/** Something holding trainable parameters (optional part of the contract). */
export interface HasParameters {
  /** The tfjs variables a gradient step updates. */
  parameters(): readonly tf.Variable[];
}

/**
 * A map of fields that may change the token grid (not a kind of the contract: it is not a time-stepping
 * sub-step): a local integral operator on an image token grid such as a strided convolution, which takes u
 * to another grid of the same domain (docs/convolutional-kernels.md). Attention's query/key/value maps are of
 * this type. Rules 1, 3 and 4 above hold; rule 2 does not.
 */
export type TokenMap = (u: Field) => Field;
