/**
 * Lifted feature domains (paper §3; docs/feedforward.md): when the hidden width d_ff differs from d, the state is carried to a
 * larger feature domain by zero-extension `E` and back by restriction `R = Eᵀ`.
 *
 * With unit feature grids, Ω_y = [0, d] ⊂ [0, d_ff]: `(E u)(y) = u(y)` on [0, d] and 0 beyond;
 * `(R v)(y) = v(y)` on [0, d]. As matrices acting on the right (`u E`), both are the rectangular identity
 * `J_ij = δ_ij` of shape `[d_in, d_out]`; E is an isometry of L²(Ω_y) and `E R` is the projection onto [0, d].
 */
import { tf, describeValue } from '@tide/backend';
import { DomainError, checkField, featureGrid as unitFeatureGrid, type Field, type Grid } from '@tide/domain';

/** The rectangular identity `J = [δ_ij]`, `[dIn, dOut]`: E when dIn < dOut, R when dIn > dOut, I when equal. */
export function embeddingMatrix(dIn: number, dOut: number): tf.Tensor2D {
  for (const [name, v] of [
    ['dIn', dIn],
    ['dOut', dOut],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new DomainError(`embeddingMatrix: ${name}`, {
        expected: 'a positive integer width',
        received: describeValue(v),
        fix: 'pass feature counts ≥ 1',
      });
    }
  }
  return tf.eye(dIn, dOut) as tf.Tensor2D;
}

/**
 * `J u`: zero-extends (d_out > d) or restricts (d_out < d) a field's features onto a unit grid of width
 * `dOut` (or the given grid of that size). Returns a new field; exactly one tensor survives.
 */
export function embedFeatures(u: Field, dOut: number, grid: Grid = unitFeatureGrid(dOut)): Field {
  checkField('embedFeatures', u);
  if (grid.size !== dOut) {
    throw new DomainError('embedFeatures: grid', {
      expected: `a grid of ${dOut} points`,
      received: `${grid.size} points`,
      fix: 'pass a grid of the target width',
    });
  }
  const d = u.features;
  const values = tf.tidy(() => {
    if (dOut === d) return tf.clone(u.values);
    if (dOut > d)
      return tf.pad(u.values, [
        [0, 0],
        [0, 0],
        [0, dOut - d],
      ]) as tf.Tensor3D; // [B, N_x, d_ff]: E u
    return tf.slice(u.values, [0, 0, 0], [u.batch, u.tokens, dOut]) as tf.Tensor3D; // [B, N_x, d]: R v
  });
  return u.onFeatureGrid(values, grid);
}
