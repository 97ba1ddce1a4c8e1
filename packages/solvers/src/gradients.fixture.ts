// Test problems for gradients through a solve, built from tfjs ops (no concrete operator package): a small
// nonlinear rate with parameters, a scale-invariant projection, losses, and the two ways to differentiate.
import { tf } from '@tide/backend';
import type { Field, Projection, VectorField } from '@tide/domain';
import { solve, type SolveOptions } from './solve.js';
import type { Scheme } from './schemes.js';

/** F(u) = tanh(u W₁ + b) W₂ on the features (d → h → d), parameters plain tensors or variables. */
export class TanhField implements VectorField {
  readonly kind = 'vector-field' as const;
  evaluations = 0;
  constructor(
    readonly w1: tf.Tensor2D,
    readonly b: tf.Tensor1D,
    readonly w2: tf.Tensor2D,
    readonly label = 'tanh',
  ) {}
  static random(d: number, h: number, seed: number, label = 'tanh', std = 0.4): TanhField {
    return new TanhField(
      tf.randomNormal([d, h], 0, std, 'float32', seed) as tf.Tensor2D,
      tf.randomNormal([h], 0, 0.1, 'float32', seed + 1) as tf.Tensor1D,
      tf.randomNormal([h, d], 0, std, 'float32', seed + 2) as tf.Tensor2D,
      label,
    );
  }
  get params(): tf.Tensor[] {
    return [this.w1, this.b, this.w2];
  }
  evaluate(u: Field): Field {
    this.evaluations++;
    const [b, n, d] = u.values.shape;
    return u.withValues(
      tf.tidy(() => {
        const x = tf.reshape(u.values, [b * n, d]);
        const hidden = tf.tanh(tf.add(tf.matMul(x, this.w1), this.b));
        return tf.reshape(tf.matMul(hidden, this.w2), [b, n, d]);
      }),
    );
  }
  dispose(): void {
    tf.dispose(this.params);
  }
}

/** P(u) = u / √(mean_features u² + ε): scale invariant (the RMS normalisation set). */
export const rmsProjection = (eps = 0.1): Projection => ({
  kind: 'projection',
  label: `rms(${eps})`,
  project: (u: Field) =>
    u.withValues(tf.tidy(() => tf.div(u.values, tf.sqrt(tf.add(tf.mean(tf.square(u.values), -1, true), eps))))),
});

/** L = Σ c ⊙ u(T)² + Σ_saved Σ c ⊙ u(t_k) (a nonlinear loss of the end state and of every saved state). */
export function lossThrough(scheme: Scheme, u0: Field, x: tf.Tensor, c: tf.Tensor, options: SolveOptions): tf.Scalar {
  return tf.tidy(() => {
    const sol = solve(u0.withValues(x), scheme, options);
    let l = tf.sum(tf.mul(tf.square(sol.u.values), c));
    for (const s of sol.states) l = tf.add(l, tf.sum(tf.mul(s.values, c)));
    sol.dispose();
    return l as tf.Scalar;
  });
}

/** The gradients of {@link lossThrough} with respect to u0 and each of `params` (the caller owns them). */
export function gradientsOf(
  scheme: Scheme,
  u0: Field,
  params: readonly tf.Tensor[],
  c: tf.Tensor,
  options: SolveOptions,
): tf.Tensor[] {
  return tf.grads((x: tf.Tensor) => lossThrough(scheme, u0, x, c, options))([u0.values, ...params]);
}

/** max |a − b| / max |b| over two lists of tensors (a norm-wise relative difference, each pair separately). */
export function relativeDifferences(a: readonly tf.Tensor[], b: readonly tf.Tensor[]): number[] {
  return a.map((ai, i) =>
    tf.tidy(() => {
      const scale = tf.max(tf.abs(b[i]!)).dataSync()[0]!;
      const diff = tf.max(tf.abs(tf.sub(ai, b[i]!))).dataSync()[0]!;
      return scale === 0 ? diff : diff / scale;
    }),
  );
}
