/**
 * Measured order of convergence: the least-squares slope of log(error) against log(h).
 * With `err ≈ C·h^p` over several step sizes the slope is p (diffrax's order tests fit the same line).
 */

/** The slope p of the least-squares line through (log h_i, log err_i). Needs ≥ 2 positive pairs. */
export function convergenceOrder(h: readonly number[], error: readonly number[]): number {
  if (h.length !== error.length || h.length < 2) {
    throw new Error(
      `convergenceOrder: expected ≥ 2 pairs of equal length, received ${h.length} step sizes and ${error.length} errors`,
    );
  }
  const xs = h.map(Math.log);
  const ys = error.map(Math.log);
  if (![...xs, ...ys].every(Number.isFinite)) {
    throw new Error(
      `convergenceOrder: step sizes and errors must be positive and finite (h = ${h.join(', ')}; error = ${error.join(', ')})`,
    );
  }
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < xs.length; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
  }
  return sxy / sxx;
}
