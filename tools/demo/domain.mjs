#!/usr/bin/env node
// `npm run demo:domain`: the discretisation of the domains (the built packages).
// It starts the engine, discretises the token domain three ways and shows what the quadrature buys:
// exactness degrees, convergence of ∫ on a smooth field, and resampling a field between grids.
import { buildPackages } from './build.mjs';

buildPackages();

const { initEngine, interval, midpointRule, trapezoidRule, gaussLegendreRule, integrate, field, resampleTokens, tf } =
  await import('@tide/domain');
const { integralAttention } = await import('@tide/attention');
const { layerNormConstraint } = await import('@tide/normalization');

const t0 = performance.now();
const engine = await initEngine();
console.log(`TIDE engine: ${engine.backend} (${engine.environment}, float32=${engine.float32})`);

const omega = interval(0, 1);
const f = (x) => Math.exp(Math.sin(4 * x));
const reference = integrate(gaussLegendreRule(omega, 64), f);
console.log('\n∫₀¹ exp(sin 4x) dx on three token grids (|error|):');
console.log('   N   midpoint     trapezoid    gauss-legendre');
for (const n of [4, 8, 16, 32]) {
  const row = [midpointRule, trapezoidRule, gaussLegendreRule].map((rule) =>
    Math.abs(integrate(rule(omega, n), f) - reference)
      .toExponential(2)
      .padStart(12),
  );
  console.log(`${String(n).padStart(4)} ${row.join(' ')}`);
}

console.log('\nResampling u(x, y) = sin(3x)·cos(y) from N midpoint tokens onto 9 Gauss–Legendre tokens (max |error|):');
const target = gaussLegendreRule(omega, 9);
const yGrid = midpointRule(interval(0, 1), 4);
for (const n of [8, 32, 128]) {
  const src = midpointRule(omega, n);
  const data = [];
  for (const x of src.points) for (const y of yGrid.points) data.push(Math.sin(3 * x) * Math.cos(y));
  const u = field(tf.tensor3d(data, [1, n, 4]), { tokenGrid: src, featureGrid: yGrid });
  const errs = [];
  for (const order of [2, 4]) {
    const v = resampleTokens(u, target, { order });
    const got = await v.values.data();
    let worst = 0;
    target.points.forEach((x, i) =>
      yGrid.points.forEach(
        (y, j) => (worst = Math.max(worst, Math.abs(got[i * 4 + j] - Math.sin(3 * x) * Math.cos(y)))),
      ),
    );
    errs.push(worst.toExponential(2));
    v.dispose();
  }
  u.dispose();
  console.log(`  N = ${String(n).padStart(3)}: linear ${errs[0]}, cubic ${errs[1]}`);
}
console.log('\nIntegral attention A[u] on a smooth u(x) (d = 3, 1 head) against the continuum operator:');
const profile = (x) => [Math.sin(2 * Math.PI * x), Math.cos(3 * x), x * x - 0.5];
const kernels = {
  wq: tf.tensor2d([
    [0.8, -0.3, 0.5],
    [0.2, 0.9, -0.4],
    [-0.6, 0.1, 0.7],
  ]),
  wk: tf.tensor2d([
    [0.5, 0.4, -0.2],
    [-0.7, 0.3, 0.6],
    [0.1, -0.8, 0.4],
  ]),
  wv: tf.tensor2d([
    [1, 0.2, 0],
    [0, 1, -0.3],
    [0.4, 0, 1],
  ]),
  wo: tf.eye(3),
};
const onGrid = (grid, unitWeights = false) =>
  field(tf.tensor3d([Array.from(grid.points, profile)]), {
    tokenGrid: grid,
    featureGrid: midpointRule(interval(0, 3), 3),
    ...(unitWeights && { tokenWeights: [new Array(grid.size).fill(1)] }),
  });
const fine = gaussLegendreRule(omega, 256);
const uFine = onGrid(fine);
const aFine = integralAttention(uFine, kernels);
async function attentionError(grid, unitWeights = false) {
  const u = onGrid(grid, unitWeights);
  const a = integralAttention(u, kernels);
  const ref = resampleTokens(aFine, grid, { order: 4 });
  const err = tf.tidy(() => tf.max(tf.abs(tf.sub(a.values, ref.values))).dataSync()[0]);
  tf.dispose([u.values, a.values, ref.values]);
  return err;
}
console.log('   N   midpoint     gauss-legendre   gauss-legendre without weights');
for (const n of [8, 16, 32, 64]) {
  const row = [
    await attentionError(midpointRule(omega, n)),
    await attentionError(gaussLegendreRule(omega, n)),
    await attentionError(gaussLegendreRule(omega, n), true),
  ];
  console.log(`${String(n).padStart(4)} ${row.map((e) => e.toExponential(2).padStart(12)).join('     ')}`);
}
console.log('   (dropping the quadrature weights on a non-uniform grid converges to the wrong operator)');
const ln = layerNormConstraint({ mean: 0, std: 1 });
const projected = ln.project(aFine, 0);
const [before, after] = [ln.distance(aFine, 0), ln.distance(projected, 0)];
const meanOf = (t) => tf.tidy(() => tf.mean(t).dataSync()[0]);
console.log(
  `\nLayerNorm as a projection: mean distance to S₁(0, 1) ${meanOf(before).toFixed(3)} → ${meanOf(after).toExponential(1)} after P`,
);
tf.dispose([uFine.values, aFine.values, projected.values, before, after, ...Object.values(kernels)]);

console.log(`\ndone in ${((performance.now() - t0) / 1000).toFixed(2)} s; tensors alive: ${tf.memory().numTensors}`);
