/**
 * Anytime depth (paper §2 and §5; docs/continuous-depth.md): does a model have a continuum? The same tokens are
 * solved with refined schemes against the model's own fine reference (RK4, 64 steps per unit time): a network
 * trained as one Δt = 1 discretisation drifts under refinement, a model trained for its continuum converges.
 * For a model whose continuum exists, the validation loss of held-out text is measured against the rate
 * evaluations it costs — fixed RK4 steps and adaptive Dormand–Prince solves at several tolerances — so depth
 * becomes a dial between cost and accuracy.
 *
 * Browser-safe: `@tide/*` packages and tfjs only (the `@tide/cli/study` entry).
 */
import { describeValue, tf } from '@tide/backend';
import {
  forward,
  InputError,
  isLanguageModel,
  type DiscretisationOptions,
  type TransformerModel,
} from '@tide/transformer';
import { measuredOrders } from './analysis.js';
import { maxAbsDifference, meanKl } from './divergence.js';
import type { AnytimePoint, DepthReport, DepthRow, RefinementPoint } from './charts.js';

/** The fine reference every refinement is measured against: RK4 with 64 steps per unit time. */
export const DEPTH_REFERENCE: DiscretisationOptions = Object.freeze({ scheme: 'rk4', stepsPerLayer: 64 });

/** The refinements of the depth table (label, options). */
export const DEPTH_REFINEMENTS: readonly (readonly [string, DiscretisationOptions])[] = [
  ['Lie, 1 step/unit', { scheme: 'lie', stepsPerLayer: 1 }],
  ['Lie, 4 steps/unit', { scheme: 'lie', stepsPerLayer: 4 }],
  ['Strang, 1 step/unit', { scheme: 'strang', stepsPerLayer: 1 }],
  ['Strang, 4 steps/unit', { scheme: 'strang', stepsPerLayer: 4 }],
  ['RK4, 1 step/unit', { scheme: 'rk4', stepsPerLayer: 1 }],
  ['RK4, 4 steps/unit', { scheme: 'rk4', stepsPerLayer: 4 }],
];

function checkIds(subject: string, model: TransformerModel, ids: readonly number[]): void {
  if (!isLanguageModel(model))
    throw new InputError(subject, {
      expected: 'a language model (GPT-2 layout)',
      received: `a ${model.config.layout} model`,
      fix: 'the depth study measures next-token predictions',
    });
  const V = model.config.vocabSize!;
  if (!Array.isArray(ids) || ids.length < 2 || ids.some((i) => !Number.isInteger(i) || i < 0 || i >= V))
    throw new InputError(subject, {
      expected: `at least two token ids in 0…${V - 1}`,
      received: describeValue(ids),
      fix: "tokenize the text with the model's tokenizer",
    });
}

/**
 * The depth table of one model: for each refinement, max |Δ logits| and the mean KL(reference ‖ ·) against the
 * model's fine reference ({@link DEPTH_REFERENCE}), with the rate evaluations of each solve. `ids`: one sequence
 * (at most n_positions tokens).
 */
export function depthTable(
  model: TransformerModel,
  name: string,
  ids: readonly number[],
  refinements: readonly (readonly [string, DiscretisationOptions])[] = DEPTH_REFINEMENTS,
): DepthRow[] {
  checkIds('depthTable: ids', model, ids);
  const sequence = ids.slice(-model.config.positions!);
  const input = tf.tensor2d([sequence as number[]], [1, sequence.length], 'int32'); // [1, N]
  let reference: tf.Tensor3D | undefined;
  try {
    reference = forward(model, { inputIds: input }, DEPTH_REFERENCE).output; // [1, N, V]
    const ref = reference;
    return refinements.map(([label, options]) => {
      const r = forward(model, { inputIds: input }, options);
      try {
        const maxAbs = maxAbsDifference(r.output, ref);
        return { model: name, label, maxAbs, kl: meanKl(ref, r.output), evaluations: r.stats.fieldEvaluations };
      } finally {
        r.output.dispose();
      }
    });
  } finally {
    tf.dispose([input, ...(reference ? [reference] : [])]);
  }
}

/**
 * Mean next-token cross-entropy (nats per token) of `ids` in windows of n_positions tokens (at most `windows`
 * of them, evenly spaced), solved with `options`; with the rate evaluations per window.
 */
export function heldOutLoss(
  model: TransformerModel,
  ids: readonly number[],
  options: DiscretisationOptions,
  windows = 4,
): { loss: number; evaluations: number } {
  checkIds('heldOutLoss: ids', model, ids);
  const P = model.config.positions!;
  const n = Math.min(P, ids.length - 1);
  const count = Math.max(1, Math.min(windows, Math.floor((ids.length - 1) / n)));
  const step = count > 1 ? Math.floor((ids.length - 1 - n) / (count - 1)) : 0;
  let total = 0;
  let evaluations = 0;
  for (let w = 0; w < count; w++) {
    const start = w * step;
    const window = ids.slice(start, start + n + 1);
    const input = tf.tensor2d([window.slice(0, n)], [1, n], 'int32'); // [1, n]
    const targets = tf.tensor1d(window.slice(1), 'int32'); // [n]
    try {
      const r = forward(model, { inputIds: input }, options);
      try {
        total += tf.tidy(() => {
          const logits = tf.reshape(r.output, [n, -1]); // [n, V]
          const logp = tf.logSoftmax(logits); // [n, V]
          return -tf.mean(tf.sum(tf.mul(logp, tf.oneHot(targets, logits.shape[1]!)), -1)).dataSync()[0]!;
        });
        evaluations += r.stats.fieldEvaluations;
      } finally {
        r.output.dispose();
      }
    } finally {
      tf.dispose([input, targets]);
    }
  }
  return { loss: total / count, evaluations: evaluations / count };
}

/**
 * Validation loss against rate evaluations: fixed RK4 steps (1, 2, 4 per unit time) and adaptive Dormand–Prince
 * 5(4) at each tolerance. The anytime-depth curve of a model whose continuum exists.
 */
export function anytimeDepth(
  model: TransformerModel,
  ids: readonly number[],
  options: { tolerances?: readonly number[]; fixedSteps?: readonly number[]; windows?: number } = {},
): AnytimePoint[] {
  const points: AnytimePoint[] = [];
  for (const k of options.fixedSteps ?? [1, 2, 4]) {
    const r = heldOutLoss(model, ids, { scheme: 'rk4', stepsPerLayer: k }, options.windows);
    points.push({ method: 'RK4, fixed steps', setting: `${k} step(s)/unit`, ...r });
  }
  for (const rtol of options.tolerances ?? [1e-1, 1e-2, 1e-3, 1e-4]) {
    const r = heldOutLoss(model, ids, { scheme: 'dopri5', tolerance: { rtol } }, options.windows);
    points.push({ method: 'Dormand–Prince 5(4), adaptive', setting: `rtol ${rtol}`, ...r });
  }
  return points;
}

/** The depth table as text lines (the CLI prints them; the report shows them). */
export function depthTableLines(rows: readonly DepthRow[]): string[] {
  const lines = [
    `  ${'model'.padEnd(14)}${'discretisation'.padEnd(22)}${'max |Δ logits|'.padStart(16)}${'mean KL(ref‖·)'.padStart(17)}${'evaluations'.padStart(13)}`,
  ];
  for (const r of rows)
    lines.push(
      `  ${r.model.padEnd(14)}${r.label.padEnd(22)}${r.maxAbs.toExponential(2).padStart(16)}${r.kl.toExponential(2).padStart(17)}${String(r.evaluations).padStart(13)}`,
    );
  return lines;
}

/**
 * The measured-order windows on a model whose continuum exists: steps per unit time per scheme, in the asymptotic
 * regime (an order is a limit as Δt → 0: coarser steps are pre-asymptotic and flatten the fit) and above float32
 * rounding — on a continuous model trained for it RK4's error is 3·10⁻⁴ of logits ~10 at 32 steps per unit, its
 * pairwise orders 0.9, 1.4, 3.3, 3.4, 4.2 from 1 to 32 steps (docs/continuous-depth.md).
 */
export const CONTINUUM_ORDER_WINDOWS: Readonly<Record<'lie' | 'strang' | 'rk4', readonly number[]>> = Object.freeze({
  lie: [16, 32, 64],
  strang: [16, 32, 64],
  rk4: [8, 16, 32],
});

/** The reference the measured orders are taken against: RK4 with 256 steps per unit time. */
export const CONTINUUM_ORDER_REFERENCE = 256;

/**
 * The anytime-depth study: the depth tables of a discrete model and of a model trained for its continuum on the
 * same tokens, the continuous model's measured orders (Lie, Strang, RK4 against RK4 with 256 steps per unit),
 * and its held-out loss against rate evaluations, with the discrete model's own held-out loss for reference.
 */
export function runDepthStudy(
  discrete: TransformerModel,
  continuous: TransformerModel,
  options: {
    readonly ids: readonly number[];
    readonly heldOut: readonly number[];
    readonly onProgress?: (stage: string) => void;
  },
): { lines: string[]; report: DepthReport } {
  const progress = options.onProgress ?? (() => undefined);
  progress('depth table: the default model');
  const rows = depthTable(discrete, 'default', options.ids);
  progress('depth table: the continuous model');
  rows.push(...depthTable(continuous, 'continuous', options.ids));
  const orders: RefinementPoint[] = [];
  for (const scheme of ['lie', 'strang', 'rk4'] as const) {
    progress(`measured orders of the continuous model: ${scheme}`);
    const sequence = options.ids.slice(-continuous.config.positions!);
    const input = tf.tensor2d([sequence as number[]], [1, sequence.length], 'int32'); // [1, N]
    try {
      orders.push(
        ...measuredOrders(
          continuous,
          { inputIds: input },
          {
            schemes: [scheme],
            stepsPerLayer: CONTINUUM_ORDER_WINDOWS[scheme],
            referenceStepsPerLayer: CONTINUUM_ORDER_REFERENCE,
          },
        ),
      );
    } finally {
      input.dispose();
    }
  }
  progress('held-out loss against evaluations');
  const anytime = anytimeDepth(continuous, options.heldOut);
  const discreteLoss = heldOutLoss(discrete, options.heldOut, { scheme: 'exact' }).loss;
  const table = [
    `the same ${Math.min(options.ids.length, discrete.config.positions!)} tokens against each model's own fine reference (RK4, 64 steps per unit time):`,
    ...depthTableLines(rows),
    '',
    `measured orders of the continuous model (logits against RK4 with ${CONTINUUM_ORDER_REFERENCE} steps/unit; Lie and Strang over ${CONTINUUM_ORDER_WINDOWS.lie.join(', ')}, RK4 over ${CONTINUUM_ORDER_WINDOWS.rk4.join(', ')} steps/unit): ${['lie', 'strang', 'rk4'].map((s) => `${s} ${orders.find((o) => o.scheme === s)!.order.toFixed(2)}`).join(', ')}`,
    `held-out loss (nats/char): default model, exact scheme ${discreteLoss.toFixed(4)}; continuous model ${anytime.map((p) => `${p.setting} ${p.loss.toFixed(4)} (${Math.round(p.evaluations)} evaluations)`).join('; ')}`,
  ];
  return { lines: ['', 'anytime depth:', ...table], report: { table, rows, orders, anytime, discreteLoss } };
}
