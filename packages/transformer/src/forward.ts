/**
 * The forward map of a loaded model, run as the time discretisation of the integro-differential equation:
 * embed (GPT-2) → solve over [0, L] with the chosen scheme → final projection `LN_f` at t = T (when the
 * model has one) → LM head (GPT-2).
 */
import { tf, describeValue } from '@tide/backend';
import { field, type Field } from '@tide/domain';
import { solve, type Solution, type SolverStatistics } from '@tide/solvers';
import { AffineStep, LayerNormConstraint } from '@tide/normalization';
import { embedTokens, languageModelHead } from './embedding.js';
import { CheckpointError } from './errors.js';
import type { TransformerModel } from './model.js';
import { discretise, type DiscretisationOptions } from './presets.js';

/** What to run the model on. */
export interface ForwardInput {
  /** Encoders: hidden states `[B, N, d]` (float32). */
  readonly input?: tf.Tensor3D;
  /** GPT-2: token ids `[B, N]` (int32). */
  readonly inputIds?: tf.Tensor2D;
  /** Optional per-sample token weights `[B, N]` (0 = padding: PyTorch's src_key_padding_mask). */
  readonly tokenWeights?: ArrayLike<number> | readonly ArrayLike<number>[];
}

/** Options of {@link forward}. */
export interface ForwardOptions extends DiscretisationOptions {
  /** Save the state at every layer boundary (t = 0, 1, …, L) in the result. */
  readonly saveLayers?: boolean;
  /** Save the state at every step boundary instead (k per layer). */
  readonly saveSteps?: boolean;
  /** Called after each sub-step (diagnostics). */
  readonly onSubStep?: Parameters<typeof solve>[2]['onSubStep'];
}

/** The output of a forward run. The caller owns `output` and `layers`. */
export interface ForwardResult {
  /** Hidden states `[B, N, d]` (encoders) or logits `[B, N, V]` (GPT-2). */
  readonly output: tf.Tensor3D;
  /** With `saveLayers`: the states at t = 0, 1, …, L (before the final projection). */
  readonly layers: readonly Field[];
  readonly stats: SolverStatistics;
  readonly description: string;
}

function initialField(model: TransformerModel, input: ForwardInput): Field {
  const cfg = model.config;
  if (cfg.family === 'gpt2') {
    if (input.inputIds === undefined) throw new CheckpointError('input', { expected: 'input_ids [B, N] for a GPT-2 model', received: input.input ? 'hidden states `input`' : 'nothing', fix: 'pass token ids' });
    return embedTokens(model, input.inputIds);
  }
  const x = input.input;
  if (!(x instanceof tf.Tensor) || x.rank !== 3 || x.shape[2] !== cfg.dModel) {
    throw new CheckpointError('input', { expected: `float32 hidden states [B, N, ${cfg.dModel}]`, received: describeValue(x), fix: `the encoder's d_model is ${cfg.dModel}` });
  }
  if (x.dtype !== 'float32') throw new CheckpointError('input', { expected: 'float32', received: x.dtype, fix: 'cast the input to float32' });
  const finite = tf.tidy(() => tf.all(tf.isFinite(x)).dataSync()[0]);
  if (!finite) throw new CheckpointError('input', { expected: 'finite values', received: 'NaN or ±Inf', fix: 'clean the input' });
  return field(tf.clone(x), input.tokenWeights === undefined ? {} : { tokenWeights: input.tokenWeights });
}

/** Runs a model on its input with a discretisation (default: the exact scheme). */
export function forward(model: TransformerModel, input: ForwardInput, options: ForwardOptions = {}): ForwardResult {
  const disc = discretise(model, options);
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
    const final = sol.u;
    const output = tf.tidy(() => {
      let h = final.values as tf.Tensor3D;
      if (model.finalNorm) {
        const p = new LayerNormConstraint({ epsilon: model.config.epsilon }, 'final-norm').project(final, disc.t1);
        h = new AffineStep(model.finalNorm.gamma, model.finalNorm.beta).apply(p, disc.t1).values;
      }
      return model.config.family === 'gpt2' ? languageModelHead(model, h) : h === final.values ? tf.clone(h) : h;
    });
    final.dispose();
    return { output, layers: sol.states, stats: sol.stats, description: disc.description };
  } catch (error) {
    sol?.dispose();
    throw error;
  } finally {
    u0?.dispose();
    disc.dispose();
  }
}
