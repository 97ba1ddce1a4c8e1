/**
 * The score shift that puts the token quadrature and the causal sub-domain into the softmax (docs/domains-and-quadrature.md):
 * `s_kl + ln w_l`, and `−∞` outside the causal sub-domain.
 *
 * `−∞` is represented by {@link MASKED_SCORE} = −1e30: `exp(−1e30 − max)` is exactly 0 in float32 on every
 * backend, so weight-0 (padding) tokens and future tokens drop out exactly, while a query whose every key is
 * masked still gets finite numbers, never NaN.
 */
import { MASKED_SCORE, describeValue, tf } from '@tide/backend';
import { ShapeError, causalSubdomain, checkField, type Field } from '@tide/domain';

export { MASKED_SCORE };

/**
 * `ln w_l` per key, `[B|1, N]` (per sample when the field has token weights), MASKED_SCORE where w = 0. The
 * weights are data on the host (never differentiated), so their logarithms are taken there: one upload instead
 * of five kernels per attention evaluation. The caller owns it.
 */
export function quadratureLogWeights(u: Field): tf.Tensor2D {
  checkField('quadratureLogWeights', u);
  const rows = u.tokenWeights !== undefined ? u.batch : 1;
  const logW = new Float32Array(rows * u.tokens); // [B|1, N]
  for (let b = 0; b < rows; b++) {
    const w = u.sampleTokenWeights(b);
    for (let l = 0; l < u.tokens; l++) logW[b * u.tokens + l] = w[l]! > 0 ? Math.log(w[l]!) : MASKED_SCORE;
  }
  return tf.tensor2d(logW, [rows, u.tokens]);
}

/**
 * `[B|1, 1, N|1, N]`: `ln w_l`, plus `−∞` where `l` is outside the causal sub-domain of `k` (the plain path's
 * N×N bias). The caller owns the result.
 */
export function quadratureScoreBias(u: Field, causal: boolean): tf.Tensor4D {
  checkField('quadratureScoreBias', u);
  if (typeof causal !== 'boolean') {
    throw new ShapeError('quadratureScoreBias: causal', {
      expected: 'a boolean',
      received: describeValue(causal),
      fix: 'pass true for a causal operator, else false',
    });
  }
  return tf.tidy(() => {
    const logW = quadratureLogWeights(u); // [B|1, N]
    let bias: tf.Tensor = tf.reshape(logW, [logW.shape[0], 1, 1, u.tokens]); // [B|1, 1, 1, N]
    if (causal) {
      const mask = tf.tensor2d(causalSubdomain(u.tokenGrid).mask, [u.tokens, u.tokens]); // [N, N]
      const causalBias = tf.reshape(tf.mul(tf.sub(1, mask), MASKED_SCORE), [1, 1, u.tokens, u.tokens]); // [1, 1, N, N]
      bias = tf.add(bias, causalBias); // [B|1, 1, N, N]
    }
    return bias as tf.Tensor4D;
  });
}
