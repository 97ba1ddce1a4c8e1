/**
 * The scaled error norm of adaptive step-size control (Hairer, Nørsett & Wanner, Solving ODEs I, §II.4;
 * docs/continuous-depth.md): a root mean square over every entry of the state,
 *
 *     err = sqrt( mean_i ( e_i / (atol + rtol · max(|u_n,i|, |u_{n+1},i|)) )² )
 *
 * so err ≤ 1 means the local error is within tolerance "on average per entry", independently of the batch,
 * token and feature sizes. A step is accepted when err ≤ 1.
 */
import { tf } from '@tide/backend';

/**
 * `err` as a scalar tensor (float32). It is NaN when u_{n+1} has a NaN or ±Infinity anywhere (0·x is NaN
 * exactly for those), so a non-finite trial step can never be accepted. When the step changed the feature
 * width (a lifting sub-step), the scale uses |u_{n+1}| alone.
 *
 * @param error e: the local error estimate, shape of `next`
 * @param previous u_n, shape `[B, N_x, N_y]`
 * @param next u_{n+1}, shape `[B, N_x, N_y']`
 */
export function scaledErrorNorm(
  error: tf.Tensor,
  previous: tf.Tensor,
  next: tf.Tensor,
  rtol: number,
  atol: number,
): tf.Scalar {
  return tf.tidy(() => {
    const size = tf.abs(next);
    const same = previous.shape.length === next.shape.length && previous.shape.every((d, i) => d === next.shape[i]);
    const scale = tf.add(tf.mul(same ? tf.maximum(tf.abs(previous), size) : size, rtol), atol);
    const rms = tf.sqrt(tf.mean(tf.square(tf.div(error, scale))));
    return tf.add(rms, tf.sum(tf.mul(next, 0))) as tf.Scalar;
  });
}
