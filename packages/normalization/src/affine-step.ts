/**
 * The pointwise affine sub-step of real checkpoints (docs/projections.md): `u ↦ γ(y)·u + β(y)`, applied after the
 * projection P^ε so that `affine ∘ P^ε` equals a trained LayerNorm. Not a projection: an explicit
 * pointwise map.
 */
import { tf, describeValue, formatShape } from '@tide/backend';
import { ShapeError, checkField, type Field, type PointwiseStep } from '@tide/domain';

/** `γ(y)·u + β(y)` with `gamma`, `beta`: `[N_y]` tensors (held, not owned). */
export class AffineStep implements PointwiseStep {
  readonly kind = 'pointwise' as const;
  readonly label: string;
  readonly gamma: tf.Tensor1D;
  readonly beta: tf.Tensor1D;

  constructor(gamma: tf.Tensor1D, beta: tf.Tensor1D, label = 'affine') {
    for (const [name, t] of [
      ['gamma', gamma],
      ['beta', beta],
    ] as const) {
      if (!(t instanceof tf.Tensor) || t.rank !== 1) {
        throw new ShapeError(`affineStep: ${name}`, {
          expected: 'a 1-D tensor [N_y]',
          received: describeValue(t),
          fix: `pass ${name} as tf.tensor1d(...)`,
        });
      }
    }
    if (gamma.shape[0] !== beta.shape[0]) {
      throw new ShapeError('affineStep', {
        expected: 'gamma and beta of equal length',
        received: `gamma ${formatShape(gamma.shape)}, beta ${formatShape(beta.shape)}`,
        fix: 'one value per feature in each',
      });
    }
    this.gamma = gamma;
    this.beta = beta;
    this.label = label;
  }

  apply(u: Field, _t: number): Field {
    checkField('AffineStep.apply', u);
    if (u.features !== this.gamma.shape[0]) {
      throw new ShapeError('AffineStep.apply', {
        expected: `a field with ${this.gamma.shape[0]} features (the length of gamma)`,
        received: formatShape(u.values.shape),
        fix: "build the affine step for the field's feature grid",
      });
    }
    return u.withValues(tf.tidy(() => tf.add(tf.mul(u.values, this.gamma), this.beta) as tf.Tensor3D)); // [B, N_x, N_y]
  }
}

/** The affine sub-step `γ(y)·u + β(y)`. */
export function affineStep(gamma: tf.Tensor1D, beta: tf.Tensor1D): AffineStep {
  return new AffineStep(gamma, beta);
}
