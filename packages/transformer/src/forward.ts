/**
 * The forward map of a loaded model, run as the time discretisation of the integro-differential equation:
 * embed (language models) → solve over [0, L] with the chosen scheme → the readout (final projection at t = T
 * when the model has one, then the LM head of a language model). Inputs are checked here, once
 * (docs/splitting-and-recovery.md).
 */
import { tf, describeValue } from '@tide/backend';
import { field, type Field } from '@tide/domain';
import { solve, type Solution, type SolverStatistics } from '@tide/solvers';
import { embedTokens } from './embedding.js';
import { InputError } from './errors.js';
import { isLanguageModel, type TransformerModel } from './model.js';
import { checkForwardBudget, estimateForward, type ForwardBudget } from './budget.js';
import { checkDiscretisationOptions, discretise, type DiscretisationOptions } from './discretisation.js';

/** What to run the model on. */
export interface ForwardInput {
  /** Encoders: hidden states `[B, N, d]` (float32). */
  readonly input?: tf.Tensor3D;
  /** GPT-2: token ids `[B, N]` (int32). */
  readonly inputIds?: tf.Tensor2D;
  /** Optional per-sample token weights `[B, N]` (0 = padding: PyTorch's src_key_padding_mask). */
  readonly tokenWeights?: ArrayLike<number> | readonly ArrayLike<number>[];
  /** What to call the input in errors (e.g. a file and tensor name); default `input` / `input_ids`. */
  readonly source?: string;
}

/** Options of {@link forward}. */
export interface ForwardOptions extends DiscretisationOptions {
  /** Save the state at every layer boundary (t = 0, 1, …, L) in the result. */
  readonly saveLayers?: boolean;
  /** Save the state at every step boundary instead (k per layer). */
  readonly saveSteps?: boolean;
  /** Called after each sub-step (diagnostics). */
  readonly onSubStep?: Parameters<typeof solve>[2]['onSubStep'];
  /** Memory and work limits, checked from the shapes before anything is allocated (defaults: 2 GiB, 10¹³). */
  readonly budget?: ForwardBudget;
}

/** The output of a forward run. The caller owns `output` and `layers`. */
export interface ForwardResult {
  /** Hidden states `[B, N, d]` (encoders) or logits `[B, N, V]` (GPT-2). */
  readonly output: tf.Tensor3D;
  /** With `saveLayers` (or `saveSteps`): the states at t = 0, 1, …, L (before the readout). */
  readonly states: readonly Field[];
  readonly stats: SolverStatistics;
  readonly description: string;
}

/** The initial field u(·,·,0) of an input: embedded token ids, or checked hidden states. */
function initialField(model: TransformerModel, input: ForwardInput): Field {
  if (typeof input !== 'object' || input === null)
    throw new InputError('input', {
      expected: '{ input } (hidden states) or { inputIds } (token ids)',
      received: describeValue(input),
      fix: 'pass an object',
    });
  if (isLanguageModel(model)) {
    if (input.inputIds === undefined)
      throw new InputError('input', {
        expected: 'input_ids [B, N] for a language model',
        received: input.input ? 'hidden states `input`' : 'nothing',
        fix: 'pass token ids',
      });
    return embedTokens(model, input.inputIds, input.source ?? 'input_ids');
  }
  const d = model.config.dModel;
  const x = input.input;
  const source = input.source ?? 'input';
  if (!(x instanceof tf.Tensor) || x.rank !== 3 || x.shape[2] !== d || x.shape[0] === 0 || x.shape[1] === 0) {
    throw new InputError(source, {
      expected: `float32 hidden states [B ≥ 1, N ≥ 1, ${d}]`,
      received: describeValue(x),
      fix: `the encoder's d_model is ${d}`,
    });
  }
  if (x.dtype !== 'float32')
    throw new InputError(source, { expected: 'float32', received: x.dtype, fix: 'cast the input to float32' });
  const finite = tf.tidy(() => tf.all(tf.isFinite(x)).dataSync()[0]);
  if (!finite)
    throw new InputError(source, { expected: 'finite values', received: 'NaN or ±Inf', fix: 'clean the input' });
  return field(tf.clone(x), input.tokenWeights === undefined ? {} : { tokenWeights: input.tokenWeights });
}

/** Runs a model on its input with a discretisation (default: the exact scheme). */
export function forward(model: TransformerModel, input: ForwardInput, options: ForwardOptions = {}): ForwardResult {
  // The budget first, from the input's shape and the checked options, before any operator or field is built.
  const checked = checkDiscretisationOptions(options ?? {});
  const given = input?.inputIds ?? input?.input; // [B, N] or [B, N, d]; the rest is checked by initialField
  if (given instanceof tf.Tensor && given.rank >= 2 && given.shape[0]! > 0 && given.shape[1]! > 0) {
    const [batch, tokens] = given.shape as [number, number];
    const estimate = estimateForward(model, { batch, tokens }, { ...checked, saveSteps: options.saveSteps ?? false });
    checkForwardBudget(estimate, options.budget);
  }
  const disc = discretise(model, options ?? {});
  let u0: Field | undefined;
  let sol: Solution | undefined;
  try {
    u0 = initialField(model, input);
    sol = solve(u0, disc.scheme, {
      t1: disc.t1,
      step: { stepsPerUnit: disc.stepsPerLayer },
      ...(options.saveLayers && { saveAt: Array.from({ length: disc.t1 + 1 }, (_, i) => i) }),
      ...(options.saveSteps && { saveAt: 'steps' as const }),
      ...(options.onSubStep && { onSubStep: options.onSubStep }),
    });
    const output = disc.readout(sol.u); // [B, N, d] or [B, N, V]
    sol.u.dispose();
    return { output, states: sol.states, stats: sol.stats, description: disc.description };
  } catch (error) {
    sol?.dispose();
    throw error;
  } finally {
    u0?.dispose();
    disc.dispose();
  }
}
