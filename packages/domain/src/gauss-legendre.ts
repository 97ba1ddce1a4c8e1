/**
 * Gauss–Legendre quadrature: n nodes at the roots of the Legendre polynomial P_n mapped to [a, b],
 * weights `w_i = (b − a)/((1 − ξ_i²) P_n'(ξ_i)²)`. Exact for polynomials of degree 2n − 1.
 *
 * Nodes by Newton's method on the three-term recurrence from Tricomi's initial guesses; accurate to
 * ~1e-15 for n up to several thousand.
 */
import type { Grid } from './grid.js';
import { checkPointCount, makeGrid } from './grid.js';
import type { Interval } from './interval.js';

/** P_n(x) and P_n'(x) by the recurrence (k+1)P_{k+1} = (2k+1)xP_k − kP_{k−1}. */
function legendre(n: number, x: number): { p: number; dp: number } {
  let p0 = 1;
  let p1 = x;
  for (let k = 1; k < n; k++) {
    const p2 = ((2 * k + 1) * x * p1 - k * p0) / (k + 1);
    p0 = p1;
    p1 = p2;
  }
  const p = n === 0 ? 1 : p1;
  const dp = n === 0 ? 0 : (n * (x * p - p0)) / (x * x - 1);
  return { p, dp };
}

/** n Gauss–Legendre points on `domain`, ascending. */
export function gaussLegendreRule(domain: Interval, n: number): Grid {
  checkPointCount('gaussLegendreRule', n);
  const xi = new Float64Array(n);
  const wi = new Float64Array(n);
  for (let i = 0; i < Math.ceil(n / 2); i++) {
    // Tricomi's approximation of the i-th largest root.
    let x = Math.cos((Math.PI * (4 * i + 3)) / (4 * n + 2)) * (1 - (n - 1) / (8 * n * n * n));
    for (let iter = 0; iter < 100; iter++) {
      const { p, dp } = legendre(n, x);
      const dx = p / dp;
      x -= dx;
      if (Math.abs(dx) < 1e-16) break;
    }
    const { dp } = legendre(n, x);
    const w = 2 / ((1 - x * x) * dp * dp);
    xi[i] = -x;
    xi[n - 1 - i] = x;
    wi[i] = w;
    wi[n - 1 - i] = w;
  }
  if (n % 2 === 1) xi[(n - 1) / 2] = 0;
  const half = domain.length / 2;
  const mid = (domain.lower + domain.upper) / 2;
  const points = xi.map((x) => mid + half * x);
  const weights = wi.map((w) => half * w);
  return makeGrid({ domain, rule: 'gauss-legendre', dimension: 1, points, weights, degree: 2 * n - 1 });
}
