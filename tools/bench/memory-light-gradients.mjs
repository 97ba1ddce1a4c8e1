#!/usr/bin/env node
// Memory-light gradients through a solve (docs/continuous-depth.md, "Memory-light gradients"): peak tensor memory
// of the gradient of a loss through a 64-step solve, tfjs's tape (`gradients: 'tape'`) against checkpointing
// (`gradients: { method: 'checkpoint', params }`) and, for Runge–Kutta schemes, the continuous adjoint; with the
// gradients' relative differences and wall times. Not a timed test: the peak is what it measures.
//
// Workload: a transformer-sized state u [B 4, N 64, d 64] and 4 "layers" of rates built here from tfjs ops (no
// model package): a pre-RMS-norm single-head softmax attention A(u) and a pre-RMS-norm tanh MLP (d → 4d → d),
// each layer's weights tf.Variables, piecewise constant in t over [0, 4) — 16 steps per layer, 64 steps in all.
// Loss: mean(c ⊙ u(4)²). Peak: `tf.profile(...).peakBytes` (the engine's tensor bytes after each kernel, the
// backward pass included) minus the bytes alive before (weights, u0, c).
//
// Needs the built packages: NX_DAEMON=false NX_NO_CLOUD=true npx nx build solvers
// usage: node tools/bench/memory-light-gradients.mjs [--backend wasm|cpu] [--schemes lie,rk4] [--steps-per-layer 16]
import { initEngine, tf } from '@tide/backend';
import { field } from '@tide/domain';
import { explicitStep, lieSplitting, piecewiseConstant, rk4, solve, strangSplitting } from '@tide/solvers';

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const B = 4;
const N = 64;
const D = 64;
const LAYERS = 4;
const stepsPerLayer = Number(flag('steps-per-layer', '16'));
const schemes = flag('schemes', 'lie,rk4').split(',');

const engine = await initEngine({ backend: flag('backend', 'wasm') });
tf.env().set('PROD', true);

let seed = 1;
const weight = (shape, std) => tf.variable(tf.randomNormal(shape, 0, std, 'float32', seed++));
const rms = (x) => tf.div(x, tf.sqrt(tf.add(tf.mean(tf.square(x), -1, true), 1e-5)));
const rows = (x) => tf.reshape(x, [B * N, D]);

/** A VectorField `F(u) = f(u.values)` (the operator contract of @tide/domain, written out). */
const rate = (label, f) => ({ kind: 'vector-field', label, evaluate: (u) => u.withValues(tf.tidy(() => f(u.values))) });

/** Layer i: attention softmax(Q Kᵀ/√d) V W_o and MLP tanh(x W₁ + b₁) W₂ on the RMS-normalised state. */
function layer(i) {
  const p = {
    wq: weight([D, D], 0.1),
    wk: weight([D, D], 0.1),
    wv: weight([D, D], 0.1),
    wo: weight([D, D], 0.1),
    w1: weight([D, 4 * D], 0.1),
    b1: weight([4 * D], 0.01),
    w2: weight([4 * D, D], 0.05),
  };
  const attention = rate(`attention ${i}`, (u) => {
    const x = rows(rms(u));
    const q = tf.reshape(tf.matMul(x, p.wq), [B, N, D]);
    const k = tf.reshape(tf.matMul(x, p.wk), [B, N, D]);
    const v = tf.reshape(tf.matMul(x, p.wv), [B, N, D]);
    const weights = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(D)));
    return tf.reshape(tf.matMul(rows(tf.matMul(weights, v)), p.wo), [B, N, D]);
  });
  const mlp = rate(`mlp ${i}`, (u) =>
    tf.reshape(tf.matMul(tf.tanh(tf.add(tf.matMul(rows(rms(u)), p.w1), p.b1)), p.w2), [B, N, D]),
  );
  return { attention, mlp, params: Object.values(p) };
}

const layers = Array.from({ length: LAYERS }, (_, i) => layer(i));
const params = layers.flatMap((l) => l.params);
const attention = piecewiseConstant(layers.map((l) => l.attention));
const mlp = piecewiseConstant(layers.map((l) => l.mlp));
const u0 = field(tf.randomNormal([B, N, D], 0, 1, 'float32', 1000));
const c = tf.randomNormal([B, N, D], 0, 1, 'float32', 1001);
const SCHEMES = {
  lie: () => lieSplitting([explicitStep(attention), explicitStep(mlp)]),
  strang: () => strangSplitting([attention, mlp]),
  rk4: () => rk4([attention, mlp]),
};

/** ∂L/∂(u0, θ) through the solve with `gradients` (the caller owns the result). */
function gradientsWith(scheme, gradients) {
  return tf.grads((x) =>
    tf.tidy(() => {
      const sol = solve(u0.withValues(x), scheme, { t1: LAYERS, step: { stepsPerUnit: stepsPerLayer }, gradients });
      const loss = tf.mean(tf.mul(tf.square(sol.u.values), c));
      sol.dispose();
      return loss;
    }),
  )([u0.values, ...params]);
}

async function measure(scheme, gradients) {
  tf.dispose(gradientsWith(scheme, gradients)); // warm-up (wasm kernels, shapes)
  const before = tf.memory().numBytes;
  const profile = await tf.profile(() => {
    tf.dispose(gradientsWith(scheme, gradients));
  });
  const t0 = performance.now();
  const grads = gradientsWith(scheme, gradients);
  await Promise.all(grads.map((g) => g.data()));
  const seconds = (performance.now() - t0) / 1000;
  return { peak: Math.max(0, profile.peakBytes - before), seconds, grads };
}

/** max |a − b| / max |b|, over u0 and over all parameters together. */
function relativeDifference(a, b) {
  return tf.tidy(() => {
    const norm = (list, f) => Math.max(...list.map((t, i) => tf.max(tf.abs(f(t, i))).dataSync()[0]));
    const u = norm([a[0]], (t) => tf.sub(t, b[0])) / norm([b[0]], (t) => t);
    const theta = norm(a.slice(1), (t, i) => tf.sub(t, b[i + 1])) / norm(b.slice(1), (t) => t);
    return [u, theta];
  });
}

const mib = (bytes) => (bytes / 2 ** 20).toFixed(1);
const stateBytes = B * N * D * 4;
const paramBytes = params.reduce((s, p) => s + p.size * 4, 0);
console.log(
  `memory-light gradients on ${engine.backend}: u [${B}, ${N}, ${D}] (${mib(stateBytes)} MiB), ${LAYERS} layers ` +
    `(${mib(paramBytes)} MiB of weights), ${stepsPerLayer} steps per layer = ${LAYERS * stepsPerLayer} steps`,
);
for (const name of schemes) {
  const scheme = SCHEMES[name]();
  const methods = [
    ['tape', 'tape'],
    ['checkpoint', { method: 'checkpoint', params }],
    ...(scheme.kind === 'runge-kutta'
      ? [
          ['adjoint (checkpoints)', { method: 'adjoint', params, states: 'checkpoints' }],
          ['adjoint (backward)', { method: 'adjoint', params, states: 'backward' }],
        ]
      : []),
  ];
  const tape = await measure(scheme, 'tape');
  console.log(`\n${name}: ${scheme.name}`);
  console.log(
    `  ${'gradients'.padEnd(22)} ${'peak MiB'.padStart(9)} ${'÷ tape'.padStart(7)} ${'time s'.padStart(7)}  rel. diff u0, θ`,
  );
  for (const [label, gradients] of methods) {
    const m = label === 'tape' ? tape : await measure(scheme, gradients);
    const [du, dtheta] = relativeDifference(m.grads, tape.grads);
    console.log(
      `  ${label.padEnd(22)} ${mib(m.peak).padStart(9)} ${(m.peak / tape.peak).toFixed(3).padStart(7)} ` +
        `${m.seconds.toFixed(2).padStart(7)}  ${du.toExponential(1)}, ${dtheta.toExponential(1)}`,
    );
    if (m !== tape) tf.dispose(m.grads);
  }
  console.log(`  checkpoints alone: ${LAYERS * stepsPerLayer} × |u| = ${mib(LAYERS * stepsPerLayer * stateBytes)} MiB`);
  tf.dispose(tape.grads);
}
tf.dispose([u0.values, c, ...params]);
