/**
 * BatchNorm in eval mode as a per-feature affine sub-step (paper §6; docs/convolutional-kernels.md). With its
 * running statistics frozen, PyTorch's `BatchNorm2d(C).eval()` is no projection: it is the pointwise map
 *
 *     u(x, y) ↦ a(y)·u(x, y) + b(y),     a = weight / √(variance + ε),     b = bias − mean·a
 *
 * the same at every token (and in every sample), like the affine step that follows a LayerNorm projection
 * (docs/projections.md). CvT applies it after the depthwise convolution of its `dw_bn` Q/K/V maps.
 */
import { tf, describeValue, formatShape } from '@tide/backend';
import { DomainError, ShapeError, checkField, type Field } from '@tide/domain';
import { checkFloat32 } from './convolution.js';

/** A trained `BatchNorm2d`: running statistics, affine parameters (each `[C]`) and ε. Held, not owned. */
export interface BatchNormParameters {
  /** `running_mean` `[C]`. */
  readonly mean: tf.Tensor1D;
  /** `running_var` `[C]` (≥ 0). */
  readonly variance: tf.Tensor1D;
  /** The affine scale γ, `weight` `[C]`. */
  readonly weight: tf.Tensor1D;
  /** The affine shift β, `bias` `[C]`. */
  readonly bias: tf.Tensor1D;
  /** ε > 0 (PyTorch's `eps`, 1e-5 by default). */
  readonly epsilon: number;
}

/**
 * `BatchNorm2d(C).eval()` on a field `[B, N_x, C]`: `u·a + b` per feature with `a = weight/√(variance + ε)` and
 * `b = bias − mean·a` (each `[C]`), the same at every token; returns `[B, N_x, C]` on u's grids. Any token grid
 * (the map is pointwise in x). Differentiable in u and in all four parameter tensors. The caller owns the new field.
 */
export function batchNormAffine(u: Field, norm: BatchNormParameters): Field {
  return batchNormAffineOf('batchNormAffine', u, norm);
}

/** {@link batchNormAffine} with `subject` naming the caller in errors. @internal */
export function batchNormAffineOf(subject: string, u: Field, norm: BatchNormParameters): Field {
  checkField(subject, u);
  checkBatchNorm(subject, norm, u.features);
  const values = tf.tidy(() => {
    const a = tf.div(norm.weight, tf.sqrt(tf.add(norm.variance, norm.epsilon))); // [C]
    const b = tf.sub(norm.bias, tf.mul(norm.mean, a)); // [C]
    return tf.add(tf.mul(u.values, a), b) as tf.Tensor3D; // [B, N_x, C]
  });
  return u.withValues(values);
}

/**
 * Checks BatchNorm parameters: four float32 `[C]` tensors (C = `channels` when given: one value per `per`) and a
 * finite ε > 0; returns C. @internal
 */
export function checkBatchNorm(subject: string, norm: unknown, channels?: number, per = 'feature of u'): number {
  if (typeof norm !== 'object' || norm === null) {
    throw new ShapeError(`${subject}: norm`, {
      expected:
        '{ mean, variance, weight, bias, epsilon } (a BatchNorm2d: running_mean, running_var, weight, bias, eps)',
      received: describeValue(norm),
      fix: "pass the BatchNorm2d's tensors as tf.tensor1d and its eps",
    });
  }
  const n = norm as Partial<Record<'mean' | 'variance' | 'weight' | 'bias', unknown>> & { epsilon?: unknown };
  let size = channels;
  for (const name of ['mean', 'variance', 'weight', 'bias'] as const) {
    const t = n[name];
    if (!(t instanceof tf.Tensor) || t.rank !== 1 || (size !== undefined && t.shape[0] !== size)) {
      throw new ShapeError(`${subject}: norm.${name}`, {
        expected: `a 1-D tensor [${size ?? 'C'}]${channels !== undefined ? ` (one value per ${per})` : ''}`,
        received: t instanceof tf.Tensor ? formatShape(t.shape) : describeValue(t),
        fix: `pass the BatchNorm2d's ${name === 'mean' ? 'running_mean' : name === 'variance' ? 'running_var' : name} as tf.tensor1d, one value per channel`,
      });
    }
    checkFloat32(subject, `norm.${name}`, t);
    size = t.shape[0];
  }
  const eps = n.epsilon;
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps <= 0) {
    throw new DomainError(`${subject}: norm.epsilon`, {
      expected: 'a finite number > 0',
      received: describeValue(eps),
      fix: "pass the BatchNorm2d's eps (1e-5 by default, as in CvT)",
    });
  }
  const variance = n.variance as tf.Tensor1D;
  const smallest = tf.tidy(() => tf.min(variance).dataSync()[0]!);
  if (!(smallest >= 0)) {
    throw new DomainError(`${subject}: norm.variance`, {
      expected: 'running variances ≥ 0 (finite)',
      received: `a smallest value of ${smallest}`,
      fix: "pass the BatchNorm2d's running_var as stored (a variance is never negative)",
    });
  }
  return size!;
}
