// The wasm Identity and same-dtype Cast that share data: the values survive the original's disposal, the data is
// freed with the last reference, other casts still convert, and tfjs's IS_TEST leak check passes a custom gradient.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../engine.js';
import { wasmIdentityInstalled } from './wasm-identity.js';

describe('wasm Identity and Cast that share data', () => {
  it('are installed by loading the engine', () => {
    expect(wasmIdentityInstalled()).toBe(true);
  });

  it('a clone and a same-dtype cast keep their values after the original is disposed; the data goes with the last', async () => {
    await initEngine({ backend: 'wasm', gradients: false });
    const backend = tf.engine().backend;
    const before = backend.numDataIds();
    const x = tf.tensor2d([1.5, -2, 3, 4], [2, 2]);
    const c = tf.clone(x);
    const k = tf.cast(x, 'float32');
    expect(backend.numDataIds()).toBe(before + 1); // one buffer, three tensors
    x.dispose();
    expect(Array.from(c.dataSync())).toEqual([1.5, -2, 3, 4]);
    c.dispose();
    expect(Array.from(k.dataSync())).toEqual([1.5, -2, 3, 4]);
    k.dispose();
    expect(backend.numDataIds()).toBe(before);
  });

  it('casts to another dtype still convert (float32 → int32 truncates, bool → float32 gives 0/1)', async () => {
    await initEngine({ backend: 'wasm', gradients: false });
    const r = tf.tidy(() => [
      tf.cast(tf.tensor1d([1.7, -2.2]), 'int32'),
      tf.cast(tf.tensor1d([true, false], 'bool'), 'float32'),
    ]);
    expect(Array.from(r[0]!.dataSync())).toEqual([1, -2]);
    expect(r[0]!.dtype).toBe('int32');
    expect(Array.from(r[1]!.dataSync())).toEqual([1, 0]);
    tf.dispose(r);
  });

  it("a custom gradient's saved tensors pass tfjs's IS_TEST leak check", async () => {
    await initEngine({ backend: 'wasm', gradients: true });
    expect(tf.env().getBool('IS_TEST')).toBe(true);
    const square = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const x = args[0] as tf.Tensor;
      (args[1] as tf.GradSaveFunc)([x]);
      return { value: tf.square(x), gradFunc: (dy: tf.Tensor, [sx]: tf.Tensor[]) => tf.mul(dy, tf.mul(sx!, 2)) };
    });
    const x = tf.tensor1d([1, 2, 3]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(square(t) as tf.Tensor))(x);
    expect(Array.from(g.dataSync())).toEqual([2, 4, 6]);
    tf.dispose([x, g]);
  });
});
