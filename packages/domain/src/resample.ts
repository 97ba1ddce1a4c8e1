/**
 * Resampling a field between grids (docs/domains-and-quadrature.md).
 *
 * - In x (tokens): Lagrange interpolation of order p (2: piecewise linear; 4: piecewise cubic) from the
 *   source points to the target points; error O(h^p) for smooth u. Points outside the source range are
 *   extrapolated with the boundary stencil (same order).
 * - In y (features): prolongation to a finer grid is the same interpolation; restriction to a coarser
 *   grid is its quadrature-weighted adjoint, `R = W_c⁻¹ Pᵀ W_f` with rows normalised to reproduce
 *   constants, error O(h²).
 *
 * Matrices are float64 on the host; the resampling itself is one matMul on the active backend.
 */
import { tf, describeValue } from '@tide/backend';
import { DomainError } from './errors.js';
import type { Field } from './field.js';
import { Field as FieldClass } from './field.js';
import type { Grid } from './grid.js';

/** Order of accuracy of an interpolation: 2 (linear) or 4 (cubic). */
export type InterpolationOrder = 2 | 4;

function checkOneDimensional(subject: string, grid: Grid): void {
  if (grid?.dimension !== 1) {
    throw new DomainError(subject, {
      expected: 'a 1-D grid (ascending points)',
      received: grid?.dimension === 2 ? 'a 2-D product grid' : describeValue(grid),
      fix: 'resample each factor of a product grid separately',
    });
  }
}

function checkOrder(order: unknown): asserts order is InterpolationOrder {
  if (order !== 2 && order !== 4) {
    throw new DomainError('resample: order', {
      expected: '2 (linear) or 4 (cubic)',
      received: describeValue(order),
      fix: 'pass order: 2 or order: 4',
    });
  }
}

/**
 * The `[N_target, N_source]` (row-major, float64) Lagrange interpolation matrix of `order` points per
 * stencil; each row reproduces polynomials of degree order − 1 exactly.
 */
export function interpolationMatrix(source: Grid, target: Grid, order: InterpolationOrder = 2): Float64Array {
  checkOneDimensional('interpolationMatrix: source', source);
  checkOneDimensional('interpolationMatrix: target', target);
  checkOrder(order);
  const ns = source.size;
  const nt = target.size;
  const m = new Float64Array(nt * ns);
  const xs = source.points;
  const width = Math.min(order, ns);
  for (let i = 0; i < nt; i++) {
    const x = target.points[i]!;
    // Interval containing x: largest j with xs[j] ≤ x.
    let lo = 0;
    let hi = ns - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (xs[mid]! <= x) lo = mid;
      else hi = mid;
    }
    let start = lo - Math.floor((width - 1) / 2);
    start = Math.max(0, Math.min(start, ns - width));
    for (let a = start; a < start + width; a++) {
      let basis = 1;
      for (let b = start; b < start + width; b++) if (b !== a) basis *= (x - xs[b]!) / (xs[a]! - xs[b]!);
      m[i * ns + a] = basis;
    }
  }
  return m;
}

/**
 * The `[N_coarse, N_fine]` restriction: a quadrature-weighted hat average around each coarse point,
 * `r_cf ∝ P_fc⁺ · w_f` (P: linear prolongation coarse → fine, negative extrapolation weights dropped),
 * corrected to `r_cf(1 + α_c (x_f − x_c))` so that each row reproduces linear functions. Without the
 * correction the truncated hats at the domain's ends make restriction first order there; with it the
 * error is O(h²) everywhere.
 */
export function restrictionMatrix(fine: Grid, coarse: Grid): Float64Array {
  const p = interpolationMatrix(coarse, fine, 2); // [N_f, N_c]
  const nf = fine.size;
  const nc = coarse.size;
  const r = new Float64Array(nc * nf);
  for (let c = 0; c < nc; c++) {
    const xc = coarse.points[c]!;
    let m0 = 0;
    let m1 = 0;
    let m2 = 0;
    for (let f = 0; f < nf; f++) {
      const v = Math.max(0, p[f * nc + c]!) * fine.weights[f]!;
      const d = fine.points[f]! - xc;
      r[c * nf + f] = v;
      m0 += v;
      m1 += v * d;
      m2 += v * d * d;
    }
    if (!(m0 > 0)) {
      throw new DomainError('restrictionMatrix', {
        expected: 'every coarse point to be covered by fine points with positive weight',
        received: `coarse point ${c} (at ${xc}) has no support`,
        fix: 'use a finer source grid on the same domain',
      });
    }
    const alpha = m2 > 0 ? -m1 / m2 : 0;
    const total = m0 + alpha * m1;
    for (let f = 0; f < nf; f++) r[c * nf + f] = (r[c * nf + f]! * (1 + alpha * (fine.points[f]! - xc))) / total;
  }
  return r;
}

/**
 * Interpolates a field in x onto `target` (order 2 or 4). Per-sample token weights (padding) cannot be
 * interpolated and are refused. Returns a new field; the input is kept.
 */
export function resampleTokens(u: Field, target: Grid, options: { readonly order?: InterpolationOrder } = {}): Field {
  const order = options.order ?? 2;
  checkOrder(order);
  checkOneDimensional('resampleTokens: field token grid', u.tokenGrid);
  checkOneDimensional('resampleTokens: target', target);
  if (u.tokenWeights !== undefined) {
    throw new DomainError('resampleTokens: field', {
      expected: 'a field without per-sample token weights',
      received: 'a padded field (per-sample tokenWeights)',
      fix: 'resample each sample without its padding, then pad again',
    });
  }
  const m = interpolationMatrix(u.tokenGrid, target, order);
  const values = tf.tidy(() => {
    const [b, ns, ny] = u.values.shape;
    const mt = tf.tensor2d(Float32Array.from(m), [target.size, ns], 'float32'); // [N_t, N_s]
    const flat = tf.reshape(tf.transpose(u.values, [1, 0, 2]), [ns, b * ny]); // [N_s, B·N_y]
    const out = tf.matMul(mt, flat); // [N_t, B·N_y]
    return tf.transpose(tf.reshape(out, [target.size, b, ny]), [1, 0, 2]) as tf.Tensor3D; // [B, N_t, N_y]
  });
  return FieldClass.unchecked(values, target, u.featureGrid);
}

/**
 * Moves a field to another feature grid on the same feature domain: prolongation (interpolation of
 * `order`) when the target has at least as many points, restriction (weighted adjoint) when it has fewer.
 */
export function resampleFeatures(u: Field, target: Grid, options: { readonly order?: InterpolationOrder } = {}): Field {
  const order = options.order ?? 2;
  checkOrder(order);
  checkOneDimensional('resampleFeatures: target', target);
  const src = u.featureGrid;
  if (
    src.domain.kind !== 'interval' ||
    target.domain.kind !== 'interval' ||
    Math.abs(src.domain.lower - target.domain.lower) > 1e-12 * src.domain.length ||
    Math.abs(src.domain.upper - target.domain.upper) > 1e-12 * src.domain.length
  ) {
    throw new DomainError('resampleFeatures: target', {
      expected: `a grid on the same feature domain [${src.domain.kind === 'interval' ? `${src.domain.lower}, ${src.domain.upper}` : '?'}]`,
      received: target.domain.kind === 'interval' ? `[${target.domain.lower}, ${target.domain.upper}]` : 'a rectangle',
      fix: 'changing the width of Ω_y is a lift (zero-extension), not a resampling; see @tide/feedforward',
    });
  }
  const m = target.size >= src.size ? interpolationMatrix(src, target, order) : restrictionMatrix(src, target); // [N_t, N_s]
  const values = tf.tidy(() => {
    const [b, nx, ns] = u.values.shape;
    const mt = tf.tensor2d(Float32Array.from(m), [target.size, src.size], 'float32'); // [N_t, N_s]
    const flat = tf.reshape(u.values, [b * nx, ns]); // [B·N_x, N_s]
    return tf.reshape(tf.matMul(flat, mt, false, true), [b, nx, target.size]) as tf.Tensor3D; // [B, N_x, N_t]
  });
  return u.onFeatureGrid(values, target);
}
