/**
 * `tide run`, the study (the quick start's main job): a model (the embedded default unless told otherwise) generates text with the exact
 * scheme; the same tokens are re-solved over depth with refined schemes (how far the logits move: max|Δ|, KL,
 * wall time); and a report folder shows what happened inside (kernels, trajectories, constraint distances,
 * measured orders).
 */
import { convergenceOrder, tf } from '@tide/backend';
import { attentionKernel } from '@tide/attention';
import type { Field } from '@tide/domain';
import { AffineStep, LayerNormConstraint } from '@tide/normalization';
import type { Tokenizer } from '@tide/formats';
import { forward, generate, type DiscretisationOptions, type TransformerModel } from '@tide/transformer';
import type { ReportData } from './report.js';

/** How far the study has got: `done` of `total` solves, and what it is doing. */
export interface StudyProgress {
  readonly stage: string;
  readonly done: number;
  readonly total: number;
}

/** What the study produced. */
export interface StudyResult {
  readonly lines: string[];
  readonly report: ReportData;
}

const REFINED: [string, DiscretisationOptions][] = [
  ['exact (Lie, Δt = 1)', { scheme: 'exact' }],
  ['Lie, 2 steps/layer', { scheme: 'lie', stepsPerLayer: 2 }],
  ['Lie, 4 steps/layer', { scheme: 'lie', stepsPerLayer: 4 }],
  ['Strang, 1 step/layer', { scheme: 'strang', stepsPerLayer: 1 }],
  ['Strang, 4 steps/layer', { scheme: 'strang', stepsPerLayer: 4 }],
  ['RK4, 1 step/layer', { scheme: 'rk4', stepsPerLayer: 1 }],
  ['RK4, 4 steps/layer', { scheme: 'rk4', stepsPerLayer: 4 }],
];

function maxAbs(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

/** Top-2 principal directions of the rows of `x` (power iteration with deflation). */
function principalPlane(rows: number[][]): number[][] {
  const d = rows[0]!.length;
  const mean = Array.from({ length: d }, (_, j) => rows.reduce((s, r) => s + r[j]!, 0) / rows.length);
  const centred = rows.map((r) => r.map((v, j) => v - mean[j]!));
  const dirs: number[][] = [];
  for (let c = 0; c < 2; c++) {
    let v = Array.from({ length: d }, (_, j) => Math.sin(7 * j + c + 1));
    for (let it = 0; it < 200; it++) {
      const w = new Array<number>(d).fill(0);
      for (const r of centred) {
        const p = r.reduce((s, x, j) => s + x * v[j]!, 0);
        for (let j = 0; j < d; j++) w[j]! += p * r[j]!;
      }
      for (const u of dirs) {
        const p = w.reduce((s, x, j) => s + x * u[j]!, 0);
        for (let j = 0; j < d; j++) w[j]! -= p * u[j]!;
      }
      const n = Math.hypot(...w) || 1;
      v = w.map((x) => x / n);
    }
    dirs.push(v);
  }
  return [mean, ...dirs];
}

/** Runs the study on `model` (which declares a tokenizer). */
export function runStudy(
  model: TransformerModel,
  tokenizer: Tokenizer,
  options: {
    prompt: string;
    tokens: number;
    title: string;
    summary: string[];
    onProgress?: (p: StudyProgress) => void;
  },
): StudyResult {
  const lines: string[] = [];
  const total = 2 + REFINED.length + 2 + 1 + 4 * 4;
  let done = 0;
  const advance = (stage: string) => options.onProgress?.({ stage, done: ++done, total });
  options.onProgress?.({ stage: 'generating', done, total });
  const ids = tokenizer.encode(options.prompt);
  let t0 = performance.now();
  // Sampled (temperature 0.8, top-12) from a fixed seed: reproducible, and free of greedy decoding's loops.
  const generated = generate(model, ids, {
    scheme: 'exact',
    maxNewTokens: options.tokens,
    temperature: 0.8,
    topK: 12,
    seed: 0,
  });
  const genTime = performance.now() - t0;
  advance('re-solving with refined schemes');
  const generatedText = tokenizer.decode(generated);
  lines.push(
    `\ngenerated with the exact scheme (sampled: temperature 0.8, top-12, seed 0; ${options.tokens} tokens, ${(genTime / 1000).toFixed(2)} s):`,
  );
  lines.push(`  ${JSON.stringify(options.prompt + generatedText)}`);
  const sequence = [...ids, ...generated].slice(-model.config.positions!);
  const input = tf.tensor2d([sequence], [1, sequence.length], 'int32');
  const table: string[] = [];
  table.push(
    `the same ${sequence.length} tokens re-solved over depth [0, ${model.config.numLayers}] (logits against the exact scheme):`,
  );
  table.push(
    `  ${'discretisation'.padEnd(24)}${'max |Δ logits|'.padStart(16)}${'mean KL(exact‖·)'.padStart(19)}${'evaluations'.padStart(13)}${'wall time'.padStart(12)}`,
  );
  const exact = forward(model, { inputIds: input }).output;
  advance('re-solving with refined schemes');
  const exactLog = tf.tidy(() => tf.logSoftmax(tf.reshape(exact, [-1, exact.shape[2]])));
  for (const [label, d] of REFINED) {
    forward(model, { inputIds: input }, d).output.dispose(); // warm-up
    t0 = performance.now();
    const r = forward(model, { inputIds: input }, d);
    r.output.dataSync();
    const ms = performance.now() - t0;
    const kl = tf.tidy(() => {
      const logp = tf.logSoftmax(tf.reshape(r.output, [-1, r.output.shape[2]]));
      return tf.mean(tf.sum(tf.mul(tf.exp(exactLog), tf.sub(exactLog, logp)), -1)).dataSync()[0]!;
    });
    table.push(
      `  ${label.padEnd(24)}${maxAbs(r.output, exact).toExponential(2).padStart(16)}${kl.toExponential(2).padStart(19)}${String(r.stats.fieldEvaluations).padStart(13)}${`${ms.toFixed(1)} ms`.padStart(12)}`,
    );
    r.output.dispose();
    advance(`re-solved: ${label}`);
  }
  lines.push('', ...table);

  // Inside the exact solve: states at every layer, and the distance to S₁ around each projection.
  const shown = Math.min(24, sequence.length);
  const tokens = sequence.slice(0, shown).map((i) => JSON.stringify(tokenizer.decode([i])).slice(1, -1));
  const s1 = new LayerNormConstraint({}, 'S₁(0, 1)');
  const constraint: ReportData['constraint'][number][] = [];
  const meanDistance = (u: Field) => tf.tidy(() => tf.mean(s1.distance(u, 0)).dataSync()[0]!);
  const run = forward(
    model,
    { inputIds: input },
    {
      saveLayers: true,
      onSubStep: ({ step, subStep, stage }) => {
        if (!model.config.normFirst) return;
        // Pre-LN: sub-step 0 is u + A(P₁u), sub-step 1 is u + F(P₂u); record P₂'s input and output.
        if (subStep === 0) {
          const p = new LayerNormConstraint({ epsilon: model.config.epsilon }).project(stage, 0);
          constraint.push(
            { step: `layer ${step} · P₂`, when: 'before', distance: meanDistance(stage) },
            { step: `layer ${step} · P₂`, when: 'after', distance: meanDistance(p) },
          );
          p.dispose();
        }
      },
    },
  );
  const kernels: ReportData['kernels'][number][] = [];
  model.parameters.layers.forEach((layer, l) => {
    const u = run.states[l]!;
    const p = new LayerNormConstraint({ epsilon: model.config.epsilon }).project(u, l);
    constraint.push(
      { step: `layer ${l} · P₁`, when: 'before', distance: meanDistance(u) },
      { step: `layer ${l} · P₁`, when: 'after', distance: meanDistance(p) },
    );
    const v = new AffineStep(layer.norm1.gamma, layer.norm1.beta).apply(p, l);
    const gamma = attentionKernel(v, layer.attention, { heads: model.config.heads, causal: model.config.causal }); // [1, H, N, N]
    const g = gamma.arraySync()[0]!;
    g.forEach((head, h) =>
      kernels.push({ layer: l, head: h, tokens, gamma: head.slice(0, shown).map((row) => row.slice(0, shown)) }),
    );
    tf.dispose([p.values, v.values, gamma]);
  });
  advance('kernels and constraint distances');
  constraint.sort((a, b) => a.step.localeCompare(b.step, 'en', { numeric: true }) || (a.step.endsWith('P₁') ? -1 : 1));
  tf.dispose([run.output, ...run.states.map((f) => f.values)]);

  // Token trajectories over depth (4 steps per layer, RK4), projected on two principal components.
  const traj = forward(model, { inputIds: input }, { scheme: 'rk4', stepsPerLayer: 4, saveSteps: true });
  const states = traj.states.map((f) => (f.values.arraySync() as number[][][])[0]!.slice(0, shown));
  const [mean, a, b] = principalPlane(states.flat());
  const trajectories = states.flatMap((rows, s) =>
    rows.map((r, i) => ({
      token: `${i} ${tokens[i]}`,
      t: s / 4,
      pc1: r.reduce((acc, x, j) => acc + (x - mean![j]!) * a![j]!, 0),
      pc2: r.reduce((acc, x, j) => acc + (x - mean![j]!) * b![j]!, 0),
    })),
  );
  tf.dispose([traj.output, ...traj.states.map((f) => f.values)]);
  advance('trajectories over depth');

  // Measured orders on this model: logits error against RK4 with 32 steps per layer.
  const reference = forward(model, { inputIds: input }, { scheme: 'rk4', stepsPerLayer: 32 }).output;
  advance('measuring orders');
  const refinement: ReportData['refinement'][number][] = [];
  for (const scheme of ['lie', 'strang', 'heun', 'rk4'] as const) {
    const ks = [2, 4, 8, 16];
    const errors = ks.map((k) => {
      const out = forward(model, { inputIds: input }, { scheme, stepsPerLayer: k }).output;
      const e = maxAbs(out, reference);
      out.dispose();
      advance(`measuring orders: ${scheme}, ${k} steps/layer`);
      return Math.max(e, 1e-7);
    });
    const order = convergenceOrder(
      ks.map((k) => 1 / k),
      errors,
    );
    ks.forEach((k, i) => refinement.push({ scheme, dt: 1 / k, error: errors[i]!, order }));
  }
  lines.push(
    '',
    `measured orders on this model (logits vs RK4 with 32 steps/layer, Δt = 1/2 … 1/16): ${['lie', 'strang', 'heun', 'rk4'].map((s) => `${s} ${refinement.find((r) => r.scheme === s)!.order.toFixed(2)}`).join(', ')}`,
  );
  tf.dispose([input, exact, exactLog, reference]);
  return {
    lines,
    report: {
      title: options.title,
      summary: options.summary,
      text: { prompt: options.prompt, generated: generatedText },
      kernels,
      trajectories,
      constraint,
      refinement,
      table,
    },
  };
}
