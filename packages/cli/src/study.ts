/**
 * `tide run`, the study (the quick start's main job): a model (the embedded default unless told otherwise) generates text with the exact
 * scheme; the same tokens are re-solved over depth with refined schemes (how far the logits move: max|Δ|, KL,
 * wall time); and a report folder shows what happened inside (kernels, trajectories, constraint distances,
 * measured orders).
 */
import { tf } from '@tide/backend';
import type { Tokenizer } from '@tide/formats';
import {
  forward,
  generate,
  recommendedDiscretisation,
  type DiscretisationOptions,
  type TransformerModel,
} from '@tide/transformer';
import { constraintDistances, layerKernels, measuredOrders, tokenLabels, trajectories } from './analysis.js';
import type { ReportData } from './charts.js';
import { maxAbsDifference, meanKl } from './divergence.js';

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
  // The model's own discretisation (the exact scheme for a trained network; what a smooth-control model was
  // trained with otherwise): generation and the reference of the refinement table.
  const base = recommendedDiscretisation(model);
  const generated = generate(model, ids, {
    ...base,
    maxNewTokens: options.tokens,
    temperature: 0.8,
    topK: 12,
    seed: 0,
  });
  const genTime = performance.now() - t0;
  advance('re-solving with refined schemes');
  const generatedText = tokenizer.decode(generated);
  lines.push(
    `\ngenerated with the ${base.scheme === 'exact' ? 'exact scheme' : `${base.scheme} scheme, ${base.stepsPerLayer} step(s) per unit`} (sampled: temperature 0.8, top-12, seed 0; ${options.tokens} tokens, ${(genTime / 1000).toFixed(2)} s):`,
  );
  lines.push(`  ${JSON.stringify(options.prompt + generatedText)}`);
  const sequence = [...ids, ...generated].slice(-model.config.positions!);
  const input = tf.tensor2d([sequence], [1, sequence.length], 'int32');
  const owned: tf.Tensor[] = [input]; // disposed at the end, or when a solve fails
  try {
    const table: string[] = [];
    table.push(
      `the same ${sequence.length} tokens re-solved over depth [0, ${model.config.numLayers}] (logits against ${base.scheme === 'exact' ? 'the exact scheme' : `${base.scheme}, ${base.stepsPerLayer} step(s) per unit`}):`,
    );
    table.push(
      `  ${'discretisation'.padEnd(24)}${'max |Δ logits|'.padStart(16)}${'mean KL(exact‖·)'.padStart(19)}${'evaluations'.padStart(13)}${'wall time'.padStart(12)}`,
    );
    const exact = forward(model, { inputIds: input }, base).output;
    owned.push(exact);
    advance('re-solving with refined schemes');
    for (const [label, d] of REFINED) {
      if (d.scheme === 'exact' && model.config.controls !== undefined) continue; // no Δt = 1 network to compare
      forward(model, { inputIds: input }, d).output.dispose(); // warm-up
      t0 = performance.now();
      const r = forward(model, { inputIds: input }, d);
      r.output.dataSync();
      const ms = performance.now() - t0;
      const kl = meanKl(exact, r.output);
      table.push(
        `  ${label.padEnd(24)}${maxAbsDifference(r.output, exact).toExponential(2).padStart(16)}${kl.toExponential(2).padStart(19)}${String(r.stats.fieldEvaluations).padStart(13)}${`${ms.toFixed(1)} ms`.padStart(12)}`,
      );
      r.output.dispose();
      advance(`re-solved: ${label}`);
    }
    lines.push('', ...table);

    // Inside the exact solve: the kernels of every layer on its input state, and the distance to S₁ around each
    // projection.
    const shown = Math.min(24, sequence.length);
    const labels = tokenLabels(tokenizer, sequence.slice(0, shown));
    const constraint = constraintDistances(model, { inputIds: input });
    const run = forward(model, { inputIds: input }, { ...base, saveLayers: true });
    let kernels: ReportData['kernels'];
    try {
      kernels = layerKernels(model, run.states, labels, shown);
    } finally {
      tf.dispose([run.output, ...run.states.map((f) => f.values)]);
    }
    advance('kernels and constraint distances');

    // Token trajectories over depth (4 steps per layer, RK4), projected on two principal components.
    const traj = forward(model, { inputIds: input }, { scheme: 'rk4', stepsPerLayer: 4, saveSteps: true });
    let paths: ReportData['trajectories'];
    try {
      paths = trajectories(
        traj.states,
        traj.states.map((_, s) => s / 4),
        labels,
        shown,
      );
    } finally {
      tf.dispose([traj.output, ...traj.states.map((f) => f.values)]);
    }
    advance('trajectories over depth');

    // Measured orders on this model: logits error against RK4 with 32 steps per layer.
    const refinement = measuredOrders(
      model,
      { inputIds: input },
      { onProgress: (label) => advance(`measuring orders: ${label}`) },
    );
    lines.push(
      '',
      `measured orders on this model (logits vs RK4 with 32 steps/layer, Δt = 1/2 … 1/16): ${['lie', 'strang', 'heun', 'rk4'].map((s) => `${s} ${refinement.find((r) => r.scheme === s)!.order.toFixed(2)}`).join(', ')}`,
    );
    return {
      lines,
      report: {
        title: options.title,
        summary: options.summary,
        text: { prompt: options.prompt, generated: generatedText },
        kernels,
        trajectories: paths,
        constraint,
        refinement,
        table,
      },
    };
  } finally {
    tf.dispose(owned);
  }
}
