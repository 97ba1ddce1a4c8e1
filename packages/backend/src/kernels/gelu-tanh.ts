/**
 * GELU in its tanh form (GPT-2's `gelu_new`; docs/feedforward.md), the pointwise step of the feed-forward rate:
 *
 *     gelu(x) = ½ x (1 + tanh v) = x·σ(2v),   v = √(2/π) (x + 0.044715 x³),
 *     gelu′(x) = s + 2x·s(1 − s)·v′,   s = σ(2v),   v′ = √(2/π) (1 + 3·0.044715 x²).
 *
 * On the wasm backend with TIDE's SIMD kernels (kernels/wasm-simd.ts) it is one kernel forward and one backward
 * (registered as `TideGeluTanh` and `TideGeluTanhGrad`), with the gradient as a custom gradient; elsewhere it is
 * the composite `x·σ(2v)` (σ(2v) rather than ½(1 + tanh v): one kernel less, and wasm's sigmoid is 17× faster than
 * its tanh), differentiated by tfjs. Both agree to float32 rounding. Any shape; float32.
 */
import { tf } from '#tfjs-core';
import { BackendError, describeValue } from '../errors.js';
import { simdKernelRegistrar, simdKernelsOf } from './wasm-simd.js';

const FORWARD = 'TideGeluTanh';
const BACKWARD = 'TideGeluTanhGrad';
const register = simdKernelRegistrar({
  [FORWARD]: ({ simd, output, offset, run }, inputs) => {
    const x = inputs['x'] as tf.TensorInfo;
    const out = output(x.shape); // shape of x
    run([out], () => simd.gelu_tanh(offset(x), offset(out), tf.util.sizeFromShape(x.shape)));
    return out;
  },
  [BACKWARD]: ({ simd, output, offset, run }, inputs) => {
    const x = inputs['x'] as tf.TensorInfo;
    const dy = inputs['dy'] as tf.TensorInfo;
    const dx = output(x.shape); // shape of x
    run([dx], () => simd.gelu_tanh_grad(offset(x), offset(dy), offset(dx), tf.util.sizeFromShape(x.shape)));
    return dx;
  },
});

/** The fused op (wasm with SIMD kernels): one kernel each way. */
const fused = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const x = args[0] as tf.Tensor;
  const save = args[1] as tf.GradSaveFunc;
  save([x]);
  const value = tf.engine().runKernel(FORWARD, { x }, {}) as tf.Tensor;
  return {
    value,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
      tf.engine().runKernel(BACKWARD, { x: saved[0]!, dy }, {}) as tf.Tensor,
  };
});

/** The composite form `x·σ(2v)` (every backend), differentiated by tfjs. */
function composite<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => {
    const cube = tf.mul(x, tf.square(x)); // x³ as x·x²: tf.pow costs 6× as much on wasm, and so does its gradient
    const twice = tf.mul(tf.add(x, tf.mul(cube, 0.044715)), 2 * Math.sqrt(2 / Math.PI)); // 2v
    return tf.mul(x, tf.sigmoid(twice)) as T;
  });
}

/** `gelu(x)` (tanh form) elementwise, differentiable; the caller owns the result. */
export function geluTanh<T extends tf.Tensor>(x: T): T {
  if (!(x instanceof tf.Tensor) || x.isDisposed || x.dtype !== 'float32') {
    throw new BackendError('geluTanh', {
      expected: 'a live float32 tensor',
      received: describeValue(x),
      fix: 'cast the input to float32 (tf.cast(x, "float32")) before the activation',
    });
  }
  const backend = tf.engine().backend;
  if (tf.getBackend() === 'wasm' && x.size > 0 && simdKernelsOf(backend) !== undefined) {
    register();
    return fused(x) as T;
  }
  return composite(x);
}
