// A linear test problem: u_t = u (A + B) (right multiplication on the features), with the exact solution
// u(T) = u0 · exp(T (A + B)) computed in float64 by scaling and squaring.
import { tf } from '@tide/backend';
import type { Field, VectorField } from '@tide/domain';

export type Matrix = number[][];

export function matMul(a: Matrix, b: Matrix): Matrix {
  return a.map((row) => b[0]!.map((_, j) => row.reduce((s, v, k) => s + v * b[k]![j]!, 0)));
}

export function expm(m: Matrix): Matrix {
  const n = m.length;
  const norm = Math.max(...m.map((r) => r.reduce((s, v) => s + Math.abs(v), 0)));
  const squarings = Math.max(0, Math.ceil(Math.log2(norm)) + 4);
  const scaled = m.map((r) => r.map((v) => v / 2 ** squarings));
  let term: Matrix = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
  let sum = term.map((r) => r.slice());
  for (let k = 1; k <= 20; k++) {
    term = matMul(term, scaled).map((r) => r.map((v) => v / k));
    sum = sum.map((r, i) => r.map((v, j) => v + term[i]![j]!));
  }
  for (let s = 0; s < squarings; s++) sum = matMul(sum, sum);
  return sum;
}

/** F(u) = scale(t) · u M as a VectorField (counts its evaluations in `label`). */
export class LinearField implements VectorField {
  readonly kind = 'vector-field' as const;
  readonly m: tf.Tensor2D;
  constructor(
    readonly matrix: Matrix,
    readonly label: string,
    readonly scale: (t: number) => number = () => 1,
  ) {
    this.m = tf.tensor2d(matrix);
  }
  evaluate(u: Field, t: number): Field {
    const [b, n, d] = u.values.shape;
    return u.withValues(
      tf.tidy(() => tf.mul(tf.reshape(tf.matMul(tf.reshape(u.values, [b * n, d]), this.m), [b, n, d]), this.scale(t))),
    );
  }
}

/** Two non-commuting linear fields the scheme tests share (A rotates and grows, B decays). */
export const FIELD_A = new LinearField(
  [
    [0.2, 1.1],
    [-0.9, 0.1],
  ],
  'A',
);
export const FIELD_B = new LinearField(
  [
    [-0.4, 0],
    [0.2, -0.3],
  ],
  'B',
);
