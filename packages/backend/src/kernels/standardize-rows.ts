/**
 * The projection of every row of a tensor onto the LayerNorm set {mean 0, variance 1} over its last axis, with
 * uniform feature weights (docs/projections.md; paper §3, LayerNorm as the projection onto the constraint set), as
 * one fused kernel each way on the wasm backend (TIDE's SIMD kernels, kernels/wasm-simd.ts):
 *
 *     μ = mean x,  c = x − μ,  β = mean c²,
 *     ε > 0:  y = c / √(β + ε);
 *     ε = 0:  y = c / √max(β, 10⁻³⁰), or the tie-break direction d where β < 10⁻¹⁰ μ² + 10⁻³⁰ (no unique nearest point),
 *     dx = r (dy − mean dy − y · mean(dy ⊙ y)),  r = 1/√(·) per row (0 for a tie-broken row: its output is constant).
 *
 * It is the same arithmetic as the composite projection in @tide/normalization (layer-norm-constraint.ts), in one
 * pass per row instead of ≈ 16 kernels forward and ≈ 25 backward. Elsewhere (other backends, no wasm SIMD) it
 * answers `undefined` and the caller computes the composite.
 */
import { tf } from '#tfjs-core';
import { BackendError, describeValue, formatShape } from '../errors.js';
import { simdKernelRegistrar, simdKernelsOf } from './wasm-simd.js';

const FORWARD = 'TideStandardizeRows';
const BACKWARD = 'TideStandardizeRowsGrad';
const register = simdKernelRegistrar({
  [FORWARD]: ({ simd, output, offset, run }, inputs, attrs) => {
    const x = inputs['x'] as tf.TensorInfo;
    const direction = inputs['direction'] as tf.TensorInfo;
    const { epsilon, exact } = attrs as unknown as { epsilon: number; exact: boolean };
    const len = x.shape[x.shape.length - 1]!;
    const rows = tf.util.sizeFromShape(x.shape) / len;
    const y = output(x.shape); // shape of x
    const rstd = output([rows]); // [rows]
    run([y, rstd], () =>
      simd.layer_norm(offset(x), offset(y), offset(rstd), offset(direction), rows, len, epsilon, exact ? 1 : 0),
    );
    return [y, rstd];
  },
  [BACKWARD]: ({ simd, output, offset, run }, inputs) => {
    const dy = inputs['dy'] as tf.TensorInfo;
    const y = inputs['y'] as tf.TensorInfo;
    const rstd = inputs['rstd'] as tf.TensorInfo;
    const len = y.shape[y.shape.length - 1]!;
    const rows = tf.util.sizeFromShape(y.shape) / len;
    const dx = output(y.shape); // shape of y
    run([dx], () => simd.layer_norm_grad(offset(dy), offset(y), offset(rstd), offset(dx), rows, len));
    return dx;
  },
});

/**
 * `y` as above for `x` `[..., n]` (float32, n ≥ 1) and `epsilon` ≥ 0, differentiable with respect to `x`, on the
 * fused kernels; `direction` (n values: zero mean, unit mean square) is the tie-break direction, needed when
 * `epsilon` is 0. Returns `undefined` where the fused kernels do not run (backends other than wasm, or wasm without
 * SIMD): compute the composite projection there. The caller owns the result.
 */
export function standardizeRowsFused(x: tf.Tensor, epsilon: number, direction?: Float32Array): tf.Tensor | undefined {
  const n = x instanceof tf.Tensor ? x.shape[x.rank - 1] : undefined;
  if (!(x instanceof tf.Tensor) || x.isDisposed || x.dtype !== 'float32' || x.rank < 1 || n === undefined || n < 1) {
    throw new BackendError('standardizeRowsFused: x', {
      expected: 'a live float32 tensor [..., n] with n ≥ 1',
      received: describeValue(x),
      fix: 'pass the field values (features on the last axis)',
    });
  }
  if (typeof epsilon !== 'number' || !Number.isFinite(epsilon) || epsilon < 0) {
    throw new BackendError('standardizeRowsFused: epsilon', {
      expected: 'a finite number ≥ 0',
      received: describeValue(epsilon),
      fix: 'pass 0 for the exact projection, or the checkpoint’s ε (e.g. 1e-5)',
    });
  }
  if (epsilon === 0 && !(direction instanceof Float32Array && direction.length === n)) {
    throw new BackendError('standardizeRowsFused: direction', {
      expected: `the tie-break direction: a Float32Array of ${n} values (the last axis of x ${formatShape(x.shape)})`,
      received: describeValue(direction),
      fix: 'pass the standardised ramp over the feature grid (the exact projection, ε = 0, needs it)',
    });
  }
  if (tf.getBackend() !== 'wasm' || x.size === 0 || simdKernelsOf(tf.engine().backend) === undefined) return undefined;
  register();
  // The exact projection (ε = 0) reads the direction: uploaded once, an input of the op (zero gradient); the
  // regularised one never reads it, and x stands in for it.
  const exact = epsilon === 0;
  const forward = (input: tf.Tensor, dir: tf.Tensor): tf.Tensor[] =>
    tf.engine().runKernel(FORWARD, { x: input, direction: dir }, { epsilon, exact }) as tf.Tensor[]; // y, rstd [rows]
  // The gradient saves only the inputs and recomputes y and r (one more forward pass, ≈ a tenth of the backward's
  // kernels before fusion): no intermediate is kept for the backward pass.
  const run = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const inputs = args.slice(0, -1) as tf.Tensor[]; // x[, direction]
    const save = args.at(-1) as tf.GradSaveFunc;
    save(inputs);
    const [y, rstd] = forward(inputs[0]!, inputs[1] ?? inputs[0]!);
    rstd!.dispose();
    return {
      value: y!,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sy, sr] = forward(saved[0]!, saved[1] ?? saved[0]!);
        try {
          const dx = tf.engine().runKernel(BACKWARD, { dy, y: sy!, rstd: sr! }, {}) as tf.Tensor;
          return saved.length > 1 ? [dx, tf.zerosLike(saved[1]!)] : dx;
        } finally {
          tf.dispose([sy!, sr!]);
        }
      },
    };
  });
  if (!exact) return run(x) as tf.Tensor;
  const dir = tf.tensor1d(direction!); // [n]
  try {
    return run(x, dir) as tf.Tensor;
  } finally {
    dir.dispose();
  }
}
