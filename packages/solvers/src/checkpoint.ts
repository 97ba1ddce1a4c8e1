/**
 * Memory-light gradients through a fixed-step solve (paper §5: training is optimal control of
 * `u_t = G(u, θ(t))`, and its gradient is the backward sweep of the adjoint; docs/continuous-depth.md,
 * "Memory-light gradients").
 *
 * A run of steps n = i … j−1 (a segment: the whole solve, or the steps between two saved states) is one operation
 * on tfjs's tape, a `tf.customGrad` with inputs `[u_i, θ_1, …, θ_P]` (θ: the parameters the caller lists) and
 * output `u_j`. Its forward pass runs the steps with the tape off and keeps only the states at the step
 * boundaries, `u_i, …, u_{j−1}` (each `[B, N_x, N_y]`). Its backward pass receives `ū_j = ∂L/∂u_j` and sweeps back:
 *
 *     for n = j−1 … i:   recompute u_{n+1} = Φ_n(u_n; θ) under a tape of its own, then
 *                        ū_n  = (∂Φ_n/∂u_n)ᵀ ū_{n+1},     θ̄ += (∂Φ_n/∂θ)ᵀ ū_{n+1}
 *
 * and returns `[ū_i, θ̄_1, …, θ̄_P]`. The recomputation runs the same operations on the same inputs, so the states
 * and the gradients are those of tfjs's own tape (`gradients: 'tape'`) up to the order of float32 sums.
 * Memory: the checkpoints, (j − i)·|u|, plus one step's tape (the stages' intermediates), instead of every step's
 * tape; compute: one more forward pass of every step (≈ 2× forward, plus the backward itself).
 *
 * tfjs gives a `customGrad` no gradients for tensors its function merely reads (the forward runs with the tape
 * off): hence the parameters are explicit inputs. The nested tape of the recomputation needs one piece of engine
 * state handled by hand, see {@link vectorJacobianProduct}.
 */
import { tf } from '@tide/backend';
import type { Field } from '@tide/domain';
import { adjointSweep } from './adjoint.js';
import { SolverError } from './errors.js';
import type { ResolvedGradients } from './gradient-mode.js';
import type { Scheme } from './schemes.js';
import { StepContext, newStatistics, type SolverStatistics, type SubStepObserver } from './step-context.js';

/** One step of `scheme` from `u`, its intermediates disposed; the result is a new tensor (also for an identity step). */
export function takeStep(scheme: Scheme, u: Field, context: StepContext): Field {
  let out: Field | undefined;
  const values = tf.tidy(() => {
    out = scheme.step(u, context);
    // Return a tensor the tidy may keep: the input itself would be disposed by the caller's own scope.
    return out.values === u.values ? tf.clone(out.values) : out.values;
  });
  return out!.withValues(values);
}

/** Steps `from` … `to − 1` of a fixed grid, with the solve's statistics and observer. */
export interface Segment {
  readonly scheme: Scheme;
  readonly grid: readonly number[];
  readonly from: number;
  readonly to: number;
  readonly stats: SolverStatistics;
  readonly observer?: SubStepObserver;
}

/** The context of step n of `grid` (t_n, Δt_n = t_{n+1} − t_n). */
export function contextAt(grid: readonly number[], n: number, stats: SolverStatistics, observer?: SubStepObserver) {
  return new StepContext(stats, n, grid[n]!, grid[n + 1]! - grid[n]!, observer);
}

/** The gradient methods that record a segment as one operation. */
export type SegmentGradients = Exclude<ResolvedGradients, { method: 'tape' }>;

/** The part of tfjs's engine state a nested tape touches (public fields of `tf.engine().state`). */
function tapeState() {
  return tf.engine().state;
}

/** Throws unless this backward pass is first order (see {@link differentiableSegment}). */
function checkFirstOrder(method: string): void {
  if (tapeState().gradientDepth > 0) {
    throw new SolverError(`solve: gradients '${method}'`, {
      expected: 'a first-order gradient (tf.grad, tf.grads, tf.variableGrads, tf.valueAndGrads, minimize)',
      received: 'a gradient of a gradient: the backward pass runs while an outer gradient records',
      fix: "use gradients 'tape' (the default) for higher-order derivatives",
    });
  }
}

/** The first trainable `tf.Variable` the recorded operations read that is not among `declared`, if any. */
function undeclaredVariable(declared: ReadonlySet<number>): tf.Variable | undefined {
  for (const node of tapeState().activeTape ?? []) {
    for (const x of Object.values(node.inputs)) {
      if (x instanceof tf.Variable && x.trainable && !declared.has(x.id)) return x;
    }
  }
  return undefined;
}

/**
 * `y = f()` and the vector–Jacobian products `ȳᵀ ∂y/∂x` for each x of `xs` (undefined where y does not depend on
 * x), by tfjs's engine under a tape of its own. `declared`: the ids of the tensors that may have gradients (a
 * trainable `tf.Variable` read by `f` outside them is refused).
 *
 * This runs inside the backward pass of an outer `tf.grad`. A first-order backward pass has closed its tape
 * (gradient depth 0), so the nested `engine.gradients` starts a fresh tape, and when it ends it disposes that
 * tape's saved tensors and clears `state.activeTape` — the slot that still holds the outer tape, whose saved
 * tensors the outer pass disposes last. The outer tape is put back afterwards.
 */
export function vectorJacobianProduct(
  f: () => tf.Tensor,
  xs: readonly tf.Tensor[],
  dy: tf.Tensor,
  declared: ReadonlySet<number>,
): { value: tf.Tensor; grads: (tf.Tensor | undefined)[] } {
  const engine = tf.engine();
  const outer = engine.state.activeTape;
  let undeclared: tf.Variable | undefined;
  let result: { value: tf.Tensor; grads: tf.Tensor[] };
  try {
    result = engine.gradients(
      () => {
        const y = f();
        undeclared ??= undeclaredVariable(declared);
        return y;
      },
      [...xs],
      dy,
      true,
    );
  } finally {
    engine.state.activeTape = outer;
  }
  if (undeclared !== undefined) {
    tf.dispose([result.value, ...result.grads.filter((g) => g !== undefined && g !== null)]);
    throw new SolverError('solve: gradients.params', {
      expected: 'every trainable tf.Variable the operators read listed in gradients.params',
      received: `the trainable variable "${undeclared.name}" [${undeclared.shape.join(', ')}], not listed`,
      fix: 'add it to params (its gradient would otherwise be lost), or make it non-trainable (variable.trainable = false)',
    });
  }
  return { value: result.value, grads: result.grads.map((g) => g ?? undefined) };
}

/** `sums[i] += grads[i]` for the defined grads (consumed: the old sum and the addend are disposed). */
export function accumulate(sums: (tf.Tensor | undefined)[], grads: readonly (tf.Tensor | undefined)[]): void {
  grads.forEach((g, i) => {
    if (g === undefined) return;
    const old = sums[i];
    if (old === undefined) {
      sums[i] = g;
      return;
    }
    sums[i] = tf.add(old, g);
    tf.dispose([old, g]);
  });
}

/** The backward sweep of method 'checkpoint': `saved[k]` = u_{from+k}, `starts[k]` its field (grids, weights). */
function checkpointSweep(
  dy: tf.Tensor,
  saved: tf.Tensor[],
  starts: readonly Field[],
  segment: Segment,
  params: readonly tf.Tensor[],
  declared: ReadonlySet<number>,
): tf.Tensor[] {
  const scratch = newStatistics(); // recomputation is not the solve's work
  const sums: (tf.Tensor | undefined)[] = params.map(() => undefined);
  let a = dy;
  try {
    for (let k = saved.length - 1; k >= 0; k--) {
      const u = starts[k]!.withValues(saved[k]!);
      const context = contextAt(segment.grid, segment.from + k, scratch);
      const { value, grads } = vectorJacobianProduct(
        () => takeStep(segment.scheme, u, context).values,
        [u.values, ...params],
        a,
        declared,
      );
      value.dispose();
      saved[k]!.dispose(); // u_n is needed no more (the outer pass disposes it again: a no-op)
      if (a !== dy) a.dispose();
      a = grads[0] ?? tf.zerosLike(u.values);
      accumulate(sums, grads.slice(1));
    }
  } catch (error) {
    tf.dispose([...sums.filter((s) => s !== undefined), ...(a === dy ? [] : [a])]);
    throw error;
  }
  return [a, ...sums.map((s, i) => s ?? tf.zerosLike(params[i]!))];
}

/**
 * Steps `segment.from` … `segment.to − 1` from `u` as one operation on tfjs's tape, whose gradient is computed
 * by `gradients.method`: `'checkpoint'` (recompute each step from its stored start, exact) or `'adjoint'` (the
 * continuous adjoint, see `adjoint.ts`). Only called while a tape records; the result is a new tensor.
 * Shapes: `u: [B, N_x, N_y] → [B, N_x, N_y']` (as the scheme's step).
 */
export function differentiableSegment(u: Field, segment: Segment, gradients: SegmentGradients): Field {
  const { params } = gradients;
  const declared = new Set(params.map((p) => p.id));
  const starts: Field[] = [];
  // 'checkpoint': u_from … u_{to−1}; adjoint from checkpoints: u_{from+1} … u_to; adjoint backward: u_to.
  const keepStarts = gradients.method === 'checkpoint';
  const keepEnds = gradients.method === 'adjoint' && gradients.states === 'checkpoints';
  let last: Field | undefined;
  const run = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const kept: tf.Tensor[] = [];
    let cur = u;
    for (let n = segment.from; n < segment.to; n++) {
      if (keepStarts) {
        starts.push(cur);
        kept.push(cur.values);
      }
      const next = takeStep(segment.scheme, cur, contextAt(segment.grid, n, segment.stats, segment.observer));
      segment.stats.steps++;
      if (keepEnds || (gradients.method === 'adjoint' && n + 1 === segment.to)) kept.push(next.values);
      else if (!keepStarts && cur !== u) cur.values.dispose();
      cur = next;
    }
    // Clones of the checkpoints, released by tfjs when its backward pass ends (or as the sweep passes them).
    save(kept);
    last = cur;
    return {
      value: cur.values,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        checkFirstOrder(gradients.method);
        return gradients.method === 'checkpoint'
          ? checkpointSweep(dy, saved, starts, segment, params, declared)
          : adjointSweep(dy, saved, u, segment, params, declared, gradients.states);
      },
    };
  });
  // tfjs's test-mode check (IS_TEST) counts every tensor a kernel leaves beyond its output as leaked; this
  // operation keeps its checkpoints on purpose (released with the tape), so the check is off while it runs.
  const env = tf.env();
  const testMode = env.getBool('IS_TEST');
  if (testMode) env.set('IS_TEST', false);
  let values: tf.Tensor;
  try {
    values = run(u.values, ...params);
  } finally {
    if (testMode) env.set('IS_TEST', true);
  }
  return last!.withValues(values);
}
