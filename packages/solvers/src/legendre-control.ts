/**
 * Smooth controls θ(t) in a Legendre basis (paper §2 and §5: the Transformer as a controlled ODE
 * `u_t = G(u, θ(t))` on [t0, t1]; docs/continuous-depth.md, "Training a model whose continuum exists").
 *
 * ```
 * θ(t) = Σ_{k<K} c_k P_k(s),    s = 2(t − t0)/(t1 − t0) − 1 ∈ [−1, 1]
 * ```
 *
 * with P_k the Legendre polynomials (`P_0 = 1`, `P_1 = s`, `(k+1) P_{k+1} = (2k+1) s P_k − k P_{k−1}`) and each
 * coefficient c_k a tree of tensors with the structure of θ (e.g. one set of layer parameters). The polynomial
 * values are computed on the host in float64; the tensor work is K − 1 scaled adds per leaf, tf ops all, so
 * gradients reach the coefficients. A degree-(K−1) polynomial in t is smooth, so a solve of `u_t = G(u, θ(t))`
 * converges with the scheme's classical order (a piecewise-constant θ does only when steps align with its jumps).
 *
 * Ownership follows `schedule.ts`: the schedule owns nothing (the coefficients stay the caller's); every value
 * `at(t)` returns is new tensors owned by the caller (a solve creates them inside its per-step scope, which
 * disposes them after each step).
 */
import { tf, describeValue, flattenTree, formatShape, mapTree, type TreeLike } from '@tide/backend';
import { SolverError } from './errors.js';
import type { Schedule } from './schedule.js';

/** The interval [t0, t1] a Legendre control lives on. */
export interface LegendreControlOptions {
  /** `[t0, t1]`, finite with t0 < t1 (a model's depth: `[0, T]`). */
  readonly span: readonly [number, number];
}

/**
 * `[P_0(s), …, P_{K−1}(s)]` in float64 by the three-term recurrence `(k+1) P_{k+1} = (2k+1) s P_k − k P_{k−1}`.
 */
export function legendrePolynomials(count: number, s: number): Float64Array {
  const p = new Float64Array(count);
  if (count > 0) p[0] = 1;
  if (count > 1) p[1] = s;
  for (let k = 1; k + 1 < count; k++) p[k + 1] = ((2 * k + 1) * s * p[k]! - k * p[k - 1]!) / (k + 1);
  return p;
}

/**
 * `[P_0'(s), …, P_{K−1}'(s)]` in float64, by `P_{k+1}' = P_{k−1}' + (2k+1) P_k` (`P_0' = 0`, `P_1' = 1`).
 */
export function legendreDerivatives(count: number, s: number): Float64Array {
  const p = legendrePolynomials(count, s);
  const dp = new Float64Array(count);
  if (count > 1) dp[1] = 1;
  for (let k = 1; k + 1 < count; k++) dp[k + 1] = dp[k - 1]! + (2 * k + 1) * p[k]!;
  return dp;
}

/**
 * The Gram matrix of the derivatives, `M_jk = ∫_{−1}^{1} P_j'(s) P_k'(s) ds = m(m+1)` with `m = min(j, k)` when
 * j, k ≥ 1 and j + k is even, else 0 (row-major K × K, float64).
 */
export function legendreDerivativeGram(count: number): Float64Array {
  const m = new Float64Array(count * count);
  for (let j = 1; j < count; j++)
    for (let k = 1; k < count; k++) if ((j + k) % 2 === 0) m[j * count + k] = Math.min(j, k) * (Math.min(j, k) + 1);
  return m;
}

/** ` at "path"` for a leaf below the root, nothing for a root tensor. */
const where = (path: string) => (path === '' ? '' : ` at "${path}"`);

function checkSpan(subject: string, span: unknown): readonly [number, number] {
  const ok =
    Array.isArray(span) &&
    span.length === 2 &&
    span.every((v) => typeof v === 'number' && Number.isFinite(v)) &&
    (span[0] as number) < (span[1] as number);
  if (!ok)
    throw new SolverError(`${subject}: span`, {
      expected: 'a finite interval [t0, t1] with t0 < t1',
      received: Array.isArray(span) ? `[${span.map((v) => describeValue(v)).join(', ')}]` : describeValue(span),
      fix: 'pass { span: [0, T] } with T the depth (number of layers)',
    });
  return span as unknown as readonly [number, number];
}

/** The leaves of every coefficient tree, checked to have the paths, shapes and dtype (float32) of the first. */
function coefficientLeaves(subject: string, coefficients: readonly TreeLike[]): Map<string, tf.Tensor>[] {
  if (!Array.isArray(coefficients) || coefficients.length === 0)
    throw new SolverError(`${subject}: coefficients`, {
      expected: 'a non-empty array of coefficient trees c_0, …, c_{K−1}',
      received: describeValue(coefficients),
      fix: 'pass at least c_0 (K = 1 is a constant control)',
    });
  const leaves = coefficients.map((c) => flattenTree(c));
  const first = leaves[0]!;
  if (first.size === 0)
    throw new SolverError(`${subject}: coefficient 0`, {
      expected: 'a tree with at least one tensor',
      received: 'no tensors',
      fix: 'pass trees of tensors (e.g. one set of layer parameters per coefficient)',
    });
  for (const [path, t] of first)
    if (t.dtype !== 'float32')
      throw new SolverError(`${subject}: coefficient 0${where(path)}`, {
        expected: 'float32 tensors',
        received: `dtype ${t.dtype}`,
        fix: 'cast the coefficients to float32',
      });
  leaves.forEach((map, k) => {
    const extra = [...map.keys()].find((p) => !first.has(p));
    if (map.size !== first.size || extra !== undefined) {
      const missing = [...first.keys()].find((p) => !map.has(p));
      throw new SolverError(`${subject}: coefficient ${k}`, {
        expected: `the ${first.size} paths of coefficient 0`,
        received: `${map.size} paths (${missing !== undefined ? `missing "${missing}"` : `extra "${extra}"`})`,
        fix: 'give every coefficient the structure of θ (the same parameter tree)',
      });
    }
    for (const [path, t] of first) {
      const other = map.get(path)!;
      if (
        other.dtype !== 'float32' ||
        other.shape.length !== t.shape.length ||
        other.shape.some((s, i) => s !== t.shape[i])
      )
        throw new SolverError(`${subject}: coefficient ${k}${where(path)}`, {
          expected: `a float32 tensor of shape ${formatShape(t.shape)} (as coefficient 0)`,
          received: `${other.dtype} ${formatShape(other.shape)}`,
          fix: 'give every coefficient the shapes of θ',
        });
    }
  });
  return leaves;
}

/**
 * θ(t) = Σ_{k<K} c_k P_k(s), s = 2(t − t0)/(t1 − t0) − 1, as a {@link Schedule} on `span` (t outside the span is
 * clamped to it). `coefficients` are K trees of float32 tensors with one structure (checked: a mismatch is a
 * {@link SolverError} naming the path). Every `at(t)` returns a new tree (tf ops, differentiable with respect to
 * the coefficients) owned by the caller; the schedule owns nothing. K = 1 is a constant control.
 */
export function legendreControl<T extends TreeLike>(
  coefficients: readonly T[],
  options: LegendreControlOptions,
): Schedule<T> {
  const span = checkSpan('legendreControl', options?.span);
  const leaves = coefficientLeaves('legendreControl', coefficients);
  const K = leaves.length;
  const [t0, t1] = span;
  return {
    kind: 'schedule',
    span: [t0, t1],
    at(t: number): T {
      if (typeof t !== 'number' || !Number.isFinite(t))
        throw new SolverError('legendreControl: t', {
          expected: `a finite time in [${t0}, ${t1}]`,
          received: describeValue(t),
          fix: 'evaluate the control at a time of the solve span',
        });
      const s = Math.min(1, Math.max(-1, (2 * (t - t0)) / (t1 - t0) - 1));
      const p = legendrePolynomials(K, s);
      return mapTree(coefficients[0]!, (c0, path) =>
        tf.tidy(() => {
          if (K === 1) return tf.clone(c0);
          let sum: tf.Tensor = c0; // P_0 = 1
          for (let k = 1; k < K; k++) sum = tf.add(sum, tf.mul(leaves[k]!.get(path)!, p[k]!));
          return sum;
        }),
      );
    },
  };
}

/**
 * The control energy `E = ∫_{t0}^{t1} ‖θ'(t)‖² dt` of a Legendre control (‖·‖² summed over every entry of every
 * leaf), exactly: with `dθ/dt = (2/(t1 − t0)) Σ_k c_k P_k'(s)`,
 *
 * ```
 * E = 2/(t1 − t0) · Σ_{j,k} M_jk ⟨c_j, c_k⟩,    M_jk = ∫_{−1}^{1} P_j' P_k' ds = min(j,k)(min(j,k)+1)  (j + k even; else 0)
 * ```
 *
 * A differentiable scalar (caller owns it); 0 for K = 1. Gradients reach every coefficient.
 */
export function legendreControlEnergy<T extends TreeLike>(
  coefficients: readonly T[],
  options: LegendreControlOptions,
): tf.Scalar {
  const [t0, t1] = checkSpan('legendreControlEnergy', options?.span);
  const leaves = coefficientLeaves('legendreControlEnergy', coefficients);
  const K = leaves.length;
  return tf.tidy(() => {
    if (K === 1) return tf.scalar(0);
    const gram = tf.tensor2d(Float32Array.from(legendreDerivativeGram(K)), [K, K]);
    let total: tf.Tensor = tf.scalar(0);
    for (const path of leaves[0]!.keys()) {
      const c = tf.stack(leaves.map((l) => tf.reshape(l.get(path)!, [-1]))); // [K, m]
      total = tf.add(total, tf.sum(tf.mul(tf.matMul(gram, c), c)));
    }
    return tf.mul(total, 2 / (t1 - t0)) as tf.Scalar;
  });
}

/** Samples θ(t_i) = values[i] for a {@link fitLegendre}. */
export interface LegendreSamples<T> {
  readonly times: readonly number[];
  readonly values: readonly T[];
}

/**
 * The least-squares pseudo-inverse `W = A⁺` (K × n, float64) of `A_ik = P_k(s_i)`, by modified Gram–Schmidt with
 * re-orthogonalisation (`A = QR`, `W = R⁻¹Qᵀ`).
 */
function pseudoInverse(s: readonly number[], K: number): Float64Array {
  const n = s.length;
  const q = Array.from({ length: K }, (_, k) => Float64Array.from(s, (x) => legendrePolynomials(K, x)[k]!));
  const r = new Float64Array(K * K);
  for (let k = 0; k < K; k++) {
    const v = q[k]!;
    const norm0 = Math.hypot(...v);
    for (let pass = 0; pass < 2; pass++)
      for (let j = 0; j < k; j++) {
        let dot = 0;
        for (let i = 0; i < n; i++) dot += q[j]![i]! * v[i]!;
        r[j * K + k] = r[j * K + k]! + dot;
        for (let i = 0; i < n; i++) v[i] = v[i]! - dot * q[j]![i]!;
      }
    const norm = Math.hypot(...v);
    if (!(norm > 1e-10 * Math.max(1, norm0)))
      throw new SolverError('fitLegendre: times', {
        expected: `at least ${K} distinct times for ${K} coefficients`,
        received: `${n} time(s), ${k} independent`,
        fix: 'sample θ at more distinct times, or fit fewer coefficients',
      });
    r[k * K + k] = norm;
    for (let i = 0; i < n; i++) v[i] = v[i]! / norm;
  }
  // W = R⁻¹ Qᵀ: back-substitution for each column i of Qᵀ.
  const w = new Float64Array(K * n);
  for (let i = 0; i < n; i++) {
    for (let k = K - 1; k >= 0; k--) {
      let x = q[k]![i]!;
      for (let j = k + 1; j < K; j++) x -= r[k * K + j]! * w[j * n + i]!;
      w[k * n + i] = x / r[k * K + k]!;
    }
  }
  return w;
}

/**
 * Coefficients c_0, …, c_{K−1} of the Legendre control on `span` that best fit sampled values θ(t_i) in least
 * squares: `min Σ_i ‖Σ_k c_k P_k(s_i) − θ_i‖²`, solved on the host in float64 (`c = A⁺ θ`, `A_ik = P_k(s_i)`) and
 * applied to the tensors as one matMul per leaf (differentiable; new tensors owned by the caller). With n = K
 * distinct times it interpolates: θ(t_i) = values[i] up to float32 rounding. For a discrete network of L layers,
 * the layer centres t = i + ½ on `[0, L]` and K = L give the polynomial through every layer's parameters
 * (equispaced interpolation: keep K small — a few tens at most — or use K < L for a smoother least-squares fit).
 * Errors ({@link SolverError}): fewer distinct times than K, times outside the span or not finite, values of
 * different structures or shapes.
 */
export function fitLegendre<T extends TreeLike>(
  samples: LegendreSamples<T>,
  coefficients: number,
  options: LegendreControlOptions,
): T[] {
  const [t0, t1] = checkSpan('fitLegendre', options?.span);
  const K = coefficients;
  if (!Number.isInteger(K) || K < 1)
    throw new SolverError('fitLegendre: coefficients', {
      expected: 'an integer K ≥ 1',
      received: describeValue(K),
      fix: 'pass the number of Legendre coefficients (polynomial degree + 1)',
    });
  const times = samples?.times;
  const values = samples?.values;
  if (!Array.isArray(times) || !Array.isArray(values) || times.length !== values.length || times.length < K)
    throw new SolverError('fitLegendre: samples', {
      expected: `{ times, values } of equal length ≥ K = ${K}`,
      received: `${describeValue(times)} times and ${describeValue(values)} values`,
      fix: 'sample θ at as many times as coefficients, or more',
    });
  const slack = 1e-9 * Math.max(1, Math.abs(t0), Math.abs(t1));
  const bad = times.find((t) => typeof t !== 'number' || !Number.isFinite(t) || t < t0 - slack || t > t1 + slack);
  if (bad !== undefined)
    throw new SolverError('fitLegendre: times', {
      expected: `finite times in the span [${t0}, ${t1}]`,
      received: describeValue(bad),
      fix: 'sample θ inside the span (layer i at its centre i + ½ on [0, L])',
    });
  const leaves = coefficientLeaves('fitLegendre: values', values);
  const w = pseudoInverse(
    times.map((t) => (2 * (t - t0)) / (t1 - t0) - 1),
    K,
  );
  const n = times.length;
  const fitted = new Map<string, tf.Tensor[]>();
  try {
    for (const [path, leaf] of leaves[0]!) {
      fitted.set(
        path,
        tf.tidy(() => {
          const v = tf.stack(leaves.map((l) => tf.reshape(l.get(path)!, [-1]))); // [n, m]
          const c = tf.matMul(tf.tensor2d(Float32Array.from(w), [K, n]), v); // [K, m]
          return tf.unstack(c).map((row) => tf.reshape(row, leaf.shape));
        }),
      );
    }
  } catch (error) {
    tf.dispose([...fitted.values()].flat());
    throw error;
  }
  return Array.from({ length: K }, (_, k) => mapTree(values[0]!, (_leaf, path) => fitted.get(path)![k]!));
}
