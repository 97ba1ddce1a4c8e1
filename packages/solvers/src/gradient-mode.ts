/**
 * How gradients flow through a solve when tfjs differentiates it (`tf.grad`, `tf.grads`, `tf.variableGrads`,
 * `tf.valueAndGrads`, an optimizer's `minimize`): paper §5 (training as optimal control of
 * `u_t = G(u, θ(t))`); docs/continuous-depth.md, "Memory-light gradients".
 *
 * - `'tape'` (default): tfjs autodiff keeps every intermediate tensor of every stage of every step on its tape.
 *   Memory O(steps · stages · |u|); exact.
 * - `'checkpoint'`: the solve keeps only the states u_n at the step boundaries; the backward pass recomputes one
 *   step at a time from u_n under a tape and takes its vector–Jacobian product. Memory O(steps · |u|) + one
 *   step's tape; about one more forward pass of compute; the same gradient as `'tape'` (the same operations).
 * - `'adjoint'`: the continuous adjoint — the adjoint equation `a_t = −(∂G/∂u)ᵀ a` and `g_t = −(∂G/∂θ)ᵀ a`
 *   integrated backwards with the scheme's own tableau. Runge–Kutta schemes only; not the gradient of the
 *   discrete scheme: it differs from `'tape'` by O(Δt^p).
 */
import { tf, describeValue } from '@tide/backend';
import { SolverError } from './errors.js';
import type { Scheme } from './schemes.js';

/**
 * The states the continuous adjoint integrates backwards from: `'checkpoints'` (default) stores u_n at every step
 * boundary and restarts each step's backward integration of u from the stored u_{n+1}; `'backward'` stores only
 * the end state of each segment and integrates u backwards alongside the adjoint (Chen et al. 2018: memory
 * independent of the number of steps, but u(t) re-integrated backwards drifts from the forward solution, and a
 * dissipative or projected flow cannot be run backwards stably).
 */
export type AdjointStates = 'checkpoints' | 'backward';

/** `{ method: 'checkpoint', params }`: recompute each step in the backward pass (exact). */
export interface CheckpointGradients {
  readonly method: 'checkpoint';
  /**
   * Every tensor the scheme's operators read whose gradient may be asked for (the weights, the pieces of a
   * schedule, `tf.Variable`s or plain tensors): they become inputs of the recorded operation, so their gradients
   * reach `tf.grads`/`tf.variableGrads`. Default `[]`: gradients with respect to u0 only. A trainable
   * `tf.Variable` the operators read but that is not listed makes the backward pass throw a `SolverError`
   * (its gradient would silently be lost).
   */
  readonly params?: readonly tf.Tensor[];
}

/** `{ method: 'adjoint', params, states }`: the continuous adjoint (Runge–Kutta schemes; O(Δt^p) from exact). */
export interface AdjointGradients {
  readonly method: 'adjoint';
  /** As {@link CheckpointGradients.params}. */
  readonly params?: readonly tf.Tensor[];
  /** Where the backward pass gets u(t) (default `'checkpoints'`). */
  readonly states?: AdjointStates;
}

/**
 * The `gradients` option of `solve`: `'tape'` (default), `'checkpoint'`, `'adjoint'` (both with no parameters:
 * gradients with respect to u0 only), `{ method: 'tape' }`, {@link CheckpointGradients} or
 * {@link AdjointGradients}. Fixed-step solves only for the last two methods.
 */
export type GradientMode =
  'tape' | 'checkpoint' | 'adjoint' | { readonly method: 'tape' } | CheckpointGradients | AdjointGradients;

/** A checked {@link GradientMode}. */
export type ResolvedGradients =
  | { readonly method: 'tape' }
  | { readonly method: 'checkpoint'; readonly params: readonly tf.Tensor[] }
  | { readonly method: 'adjoint'; readonly params: readonly tf.Tensor[]; readonly states: AdjointStates };

const METHODS = ['tape', 'checkpoint', 'adjoint'] as const;
const EXPECTED_MODE =
  "'tape', 'checkpoint', 'adjoint', or { method: 'checkpoint' | 'adjoint', params?: tf.Tensor[], states? }";

function checkParams(params: unknown, u0: tf.Tensor): readonly tf.Tensor[] {
  if (params === undefined) return [];
  if (!Array.isArray(params)) {
    throw new SolverError('solve: gradients.params', {
      expected: 'an array of the tensors the operators read (tf.Tensor or tf.Variable)',
      received: describeValue(params),
      fix: 'list the weights, e.g. params: [W1, W2], or omit it for gradients with respect to u0 only',
    });
  }
  const seen = new Set<number>();
  params.forEach((p: unknown, i) => {
    if (!(p instanceof tf.Tensor)) {
      throw new SolverError(`solve: gradients.params[${i}]`, {
        expected: 'a tf.Tensor or tf.Variable',
        received: describeValue(p),
        fix: 'pass the tensors themselves (the objects the operators read), not arrays or records',
      });
    }
    if (p.isDisposed) {
      throw new SolverError(`solve: gradients.params[${i}]`, {
        expected: 'a live tensor',
        received: `a disposed tensor of shape [${p.shape.join(', ')}]`,
        fix: 'pass the tensors the operators read now; a disposed tensor has no gradient',
      });
    }
    if (p.dtype !== 'float32') {
      throw new SolverError(`solve: gradients.params[${i}]`, {
        expected: 'a float32 tensor (tfjs differentiates float32 only)',
        received: `a ${p.dtype} tensor of shape [${p.shape.join(', ')}]`,
        fix: 'leave integer tensors (indices, masks) out of params',
      });
    }
    if (p === u0 || seen.has(p.id)) {
      throw new SolverError(`solve: gradients.params[${i}]`, {
        expected: 'each tensor once, and not u0',
        received: p === u0 ? 'the initial state u0.values' : 'a tensor listed twice',
        fix: 'list each parameter once; the gradient with respect to u0 is always computed',
      });
    }
    seen.add(p.id);
  });
  return params as readonly tf.Tensor[];
}

/**
 * Checks the `gradients` option of `solve` against the scheme and the step control.
 *
 * @throws SolverError for an unknown mode, bad `params` (not tensors, disposed, not float32, repeated, u0),
 *   `'checkpoint'` or `'adjoint'` with an adaptive step, and `'adjoint'` with a scheme that is not a
 *   Runge–Kutta scheme on the unsplit field
 */
export function resolveGradients(mode: unknown, scheme: Scheme, adaptive: boolean, u0: tf.Tensor): ResolvedGradients {
  if (mode === undefined) return { method: 'tape' };
  const method = typeof mode === 'string' ? mode : (mode as { method?: unknown } | null)?.method;
  if (!METHODS.includes(method as (typeof METHODS)[number]) || (typeof mode !== 'string' && typeof mode !== 'object')) {
    throw new SolverError('solve: gradients', {
      expected: EXPECTED_MODE,
      received:
        typeof mode === 'object' && mode !== null ? `{ method: ${describeValue(method)} }` : describeValue(mode),
      fix: "omit it for tfjs's own tape, or { method: 'checkpoint', params } for memory-light gradients",
    });
  }
  if (method === 'tape') return { method: 'tape' };
  if (adaptive) {
    throw new SolverError('solve: gradients', {
      expected: `a fixed step ({ dt } or { stepsPerUnit }) with gradients '${String(method)}'`,
      received: 'an adaptive step { rtol, atol }',
      fix: "solve on a fixed grid (e.g. the steps an adaptive solve chose: stats.adaptive), or use gradients 'tape'",
    });
  }
  const options = typeof mode === 'object' ? (mode as { params?: unknown; states?: unknown }) : {};
  const params = checkParams(options.params, u0);
  if (method === 'checkpoint') {
    if (options.states !== undefined) {
      throw new SolverError('solve: gradients.states', {
        expected: "no 'states' with method 'checkpoint' (it always stores the step boundaries)",
        received: describeValue(options.states),
        fix: "drop it, or use method 'adjoint'",
      });
    }
    return { method: 'checkpoint', params };
  }
  const states = options.states ?? 'checkpoints';
  if (states !== 'checkpoints' && states !== 'backward') {
    throw new SolverError('solve: gradients.states', {
      expected: "'checkpoints' or 'backward'",
      received: describeValue(states),
      fix: "omit it for 'checkpoints' (stable); 'backward' re-integrates u backwards (memory independent of steps)",
    });
  }
  if (scheme.kind !== 'runge-kutta' && scheme.kind !== 'embedded-runge-kutta') {
    throw new SolverError('solve: gradients', {
      expected:
        "with method 'adjoint', a Runge–Kutta scheme on u_t = G(u, t) (explicitEuler, heun, rk4, bogackiShampine, dormandPrince)",
      received: `the '${scheme.kind}' scheme "${scheme.name}"`,
      fix: "use method 'checkpoint' (exact, any scheme): the continuous adjoint needs a rate G, and a splitting's projections and pointwise maps have none",
    });
  }
  return { method: 'adjoint', params, states };
}
