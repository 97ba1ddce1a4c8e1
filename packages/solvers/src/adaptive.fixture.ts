// Test problems for adaptive solves, with exact solutions computed on the host in float64.
//
// u_t = s(t) · u M on a 1×2×4 field (right multiplication on the features): M couples two rotation-and-decay
// blocks (eigenvalues ≈ −0.1 ± i and −0.3 ± 2i), so the solution oscillates and decays. s is a scalar, so
// u(T) = u0 · exp(S(T) M) with S(T) = ∫₀ᵀ s: s ≡ 1 is the smooth problem; the Lorentzian bump
// s(t) = 1 + a / (1 + ((t − t_c)/w)²) makes a fast transient near t_c (the rate jumps ×30 within ±w), with
// S(T) = T + a w (atan((T − t_c)/w) + atan(t_c/w)).
import { tf } from '@tide/backend';
import { field, type Field } from '@tide/domain';
import { LinearField, expm, matMul, type Matrix } from './linear.fixture.js';

export const M: Matrix = [
  [-0.1, 1, 0.2, 0],
  [-1, -0.1, 0, 0.2],
  [0, 0, -0.3, 2],
  [0.2, 0, -2, -0.3],
];
export const u0rows: Matrix = [
  [1, -0.5, 0.25, 2],
  [0.3, 0.8, -1.2, 0.4],
];

export const bump = { a: 30, w: 0.05, tc: 1.5 };
export const bumpRate = (t: number): number => 1 + bump.a / (1 + ((t - bump.tc) / bump.w) ** 2);
export const bumpIntegral = (t: number): number =>
  t + bump.a * bump.w * (Math.atan((t - bump.tc) / bump.w) + Math.atan(bump.tc / bump.w));

/** F(u) = u M (smooth) or s(t) · u M (with the bump). */
export const smoothField = (): LinearField => new LinearField(M, 'M');
export const bumpField = (): LinearField => new LinearField(M, 'M', bumpRate);

/** u0 · exp(S M) in float64. */
export function exactAt(integral: number, m: Matrix = M, rows: Matrix = u0rows): Matrix {
  return matMul(rows, expm(m.map((r) => r.map((v) => v * integral))));
}

export function initial(rows: Matrix = u0rows): Field {
  return field(tf.tensor3d([rows]));
}

/** The first (only) batch entry of a field, as rows. */
export function rowsOf(u: Field): Matrix {
  return (u.values.arraySync() as number[][][])[0]!;
}

/** The global error in the tolerance's own norm: sqrt(mean((u − u*)/(atol + rtol·|u*|))²), i.e. error / tol. */
export function errorOverTolerance(got: Matrix, want: Matrix, rtol: number, atol: number): number {
  const terms = got.flatMap((row, i) =>
    row.map((v, j) => ((v - want[i]![j]!) / (atol + rtol * Math.abs(want[i]![j]!))) ** 2),
  );
  return Math.sqrt(terms.reduce((s, x) => s + x, 0) / terms.length);
}

/** max |u − u*|. */
export function maxAbsError(got: Matrix, want: Matrix): number {
  return Math.max(...got.flatMap((row, i) => row.map((v, j) => Math.abs(v - want[i]![j]!))));
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

// A splitting problem: u_t = u A + u B with non-commuting A and B (those of solve.test.ts), exact by exp(t(A + B)).
export const A: Matrix = [
  [0.2, 1.1, 0, -0.3],
  [-0.9, 0.1, 0.4, 0],
  [0, -0.5, -0.2, 0.8],
  [0.3, 0, -0.7, 0.1],
];
export const B: Matrix = [
  [-0.4, 0, 0.6, 0],
  [0.2, -0.3, 0, 0.9],
  [-0.8, 0.1, 0.2, 0],
  [0, -0.6, 0.3, -0.1],
];
export const exactSplit = (t: number): Matrix =>
  exactAt(
    t,
    A.map((r, i) => r.map((v, j) => v + B[i]![j]!)),
  );
