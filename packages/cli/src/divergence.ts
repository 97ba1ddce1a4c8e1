/**
 * How far one output of a model is from another (the refinement tables of the study and of anytime depth):
 * max |Δ| over every entry, and the mean over positions of KL(p ‖ q) between the next-token distributions.
 * Browser-safe.
 */
import { tf } from '@tide/backend';

/** max |a − b| over every entry (same shapes). */
export function maxAbsDifference(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

/** Mean over positions of KL(p ‖ q) for logits `[B, N, V]`, p from `reference`, q from `other` (nats). */
export function meanKl(reference: tf.Tensor3D, other: tf.Tensor3D): number {
  return tf.tidy(() => {
    const V = reference.shape[2];
    const lp = tf.logSoftmax(tf.reshape(reference, [-1, V])); // [B·N, V]
    const lq = tf.logSoftmax(tf.reshape(other, [-1, V])); // [B·N, V]
    return tf.mean(tf.sum(tf.mul(tf.exp(lp), tf.sub(lp, lq)), -1)).dataSync()[0]!;
  });
}
