/**
 * Leak checks: a public operation must leave exactly the tensors it documents (`tf.memory().numTensors`).
 */
import { tf } from '#tfjs-core';

/**
 * Runs `body` and asserts that exactly `survivors` more tensors exist afterwards than before.
 * Returns what `body` returned (sync or async). Typical use: `survivors` = the number of tensors the
 * operation returns, and the test disposes them afterwards.
 */
export async function expectTensorCount<T>(body: () => T | Promise<T>, survivors = 0, label = 'operation'): Promise<T> {
  const before = tf.memory().numTensors;
  const result = await body();
  const after = tf.memory().numTensors;
  if (after - before !== survivors) {
    throw new Error(
      `${label}: expected ${survivors} surviving tensor(s), found ${after - before} (before ${before}, after ${after}); ` +
        'an intermediate tensor was not disposed (wrap it in tf.tidy or dispose it).',
    );
  }
  return result;
}

/** Runs `body`, disposes every tensor it returned (in nested objects/arrays too), and asserts none leaked. */
export async function expectNoLeaks(body: () => unknown, label = 'operation'): Promise<void> {
  const before = tf.memory().numTensors;
  const result = await body();
  tf.dispose(collectTensors(result));
  const after = tf.memory().numTensors;
  if (after !== before) {
    throw new Error(
      `${label}: leaked ${after - before} tensor(s) (before ${before}, after disposing its results ${after}).`,
    );
  }
}

function collectTensors(value: unknown, out: tf.Tensor[] = [], seen = new Set<unknown>()): tf.Tensor[] {
  if (value === null || typeof value !== 'object' || seen.has(value)) return out;
  seen.add(value);
  if (value instanceof tf.Tensor) {
    out.push(value);
    return out;
  }
  if (ArrayBuffer.isView(value)) return out;
  for (const v of Array.isArray(value) ? value : Object.values(value)) collectTensors(v, out, seen);
  return out;
}
