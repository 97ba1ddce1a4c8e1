/**
 * Peak memory of one operation, net of what was already allocated.
 *
 * `tf.profile(...).peakBytes` is the engine's absolute byte count at its highest point, so tensors that a
 * previous test left alive would count. This subtracts the bytes alive when the operation starts.
 * `tf.profile` keeps global state: never run two of these at once.
 */
import { tf } from '#tfjs-core';

/** Bytes allocated above the starting level at the operation's peak. The result of `body` is disposed. */
export async function peakBytesOf(body: () => tf.TensorContainer | Promise<tf.TensorContainer>): Promise<number> {
  const before = tf.memory().numBytes;
  const info = await tf.profile(async () => {
    tf.dispose(await body());
  });
  return Math.max(0, info.peakBytes - before);
}
