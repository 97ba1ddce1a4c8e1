/**
 * The continuous adjoint (paper §5, the optimal-control view: training minimises L(u(T)) subject to
 * `u_t = G(u, θ(t))`; Pontryagin, and Chen et al., "Neural ordinary differential equations", 2018;
 * docs/continuous-depth.md, "Memory-light gradients"). With `a(t) = ∂L/∂u(t)`:
 *
 *     a_t = −(∂G/∂u)ᵀ a,        a(T) = ∂L/∂u(T)
 *     g_t = −(∂G/∂θ)ᵀ a,        g(T) = 0,        ∂L/∂θ = g(0),   ∂L/∂u(0) = a(0)
 *
 * solved backwards over each step t_{n+1} → t_n together with u itself, `u_t = G(u, t)`, by the scheme's own
 * explicit Runge–Kutta tableau (a, b, c) in reversed time s = t_{n+1} − t, from u_{n+1} and a_{n+1}:
 *
 *     U_i = u_{n+1} − Δt Σ_{j<i} a_ij K_j,      A_i = a_{n+1} + Δt Σ_{j<i} a_ij Ā_j,      τ_i = t_{n+1} − c_i Δt
 *     K_i = G(U_i, τ_i),   Ā_i = A_iᵀ ∂G/∂u (U_i, τ_i),   Θ̄_i = A_iᵀ ∂G/∂θ (U_i, τ_i)   (one tape per stage)
 *     u_n ≈ u_{n+1} − Δt Σ b_i K_i,      a_n = a_{n+1} + Δt Σ b_i Ā_i,      θ̄ += Δt Σ b_i Θ̄_i
 *
 * This is the gradient of the ODE's flow, not of the discrete scheme: it differs from `gradients: 'tape'` by
 * O(Δt^p) (measured in docs/continuous-depth.md). With `states: 'checkpoints'` each step's backward integration
 * starts from the stored u_{n+1}; with `'backward'` u is integrated backwards from u(T) through the whole segment
 * (memory independent of the number of steps; u drifts where the flow is dissipative).
 */
import { tf } from '@tide/backend';
import type { Field } from '@tide/domain';
import { accumulate, contextAt, vectorJacobianProduct, type Segment } from './checkpoint.js';
import type { AdjointStates } from './gradient-mode.js';
import type { RungeKuttaScheme } from './schemes.js';
import type { EmbeddedRungeKuttaScheme } from './embedded-runge-kutta.js';
import { newStatistics, type StepContext } from './step-context.js';
import { unsplitRate, type UnsplitRate } from './unsplit-rate.js';

/** An explicit tableau: `a` strictly lower triangular (row i lists a_i0 … a_i,i−1), weights b, nodes c. */
interface Tableau {
  readonly a: readonly (readonly number[])[];
  readonly b: readonly number[];
  readonly c: readonly number[];
}

/** The tableau of a Runge–Kutta scheme, cut after its last nonzero weight (an FSAL pair's last stage has b = 0). */
function tableauOf(scheme: RungeKuttaScheme | EmbeddedRungeKuttaScheme): Tableau {
  const t = scheme.kind === 'runge-kutta' ? scheme : scheme.tableau;
  const stages = t.b.reduce((last, bi, i) => (bi !== 0 ? i + 1 : last), 0);
  return { a: t.a.slice(0, stages), b: t.b.slice(0, stages), c: t.c.slice(0, stages) };
}

/** `base + h Σ_j w_j x_j` over the nonzero weights. */
function combine(base: tf.Tensor, xs: readonly tf.Tensor[], w: readonly number[], h: number): tf.Tensor {
  if (!xs.some((_, j) => w[j] !== undefined && w[j] !== 0)) return base;
  return tf.tidy(() => {
    const terms = xs.flatMap((x, j) => (w[j] === undefined || w[j] === 0 ? [] : [tf.mul(x, w[j]! * h)]));
    return tf.add(base, terms.length === 1 ? terms[0]! : tf.addN(terms));
  });
}

/**
 * One step t_{n+1} → t_n of the adjoint system from (u_{n+1}, a_{n+1}): returns a_n, the parameters' Δt Σ b_i Θ̄_i
 * (undefined where G does not read a parameter) and, when `wantState`, the backward-integrated u_n.
 */
function adjointStep(
  rate: UnsplitRate,
  tableau: Tableau,
  u1: Field,
  a1: tf.Tensor,
  context: StepContext,
  params: readonly tf.Tensor[],
  declared: ReadonlySet<number>,
  wantState: boolean,
): { a: tf.Tensor; g: (tf.Tensor | undefined)[]; u: tf.Tensor | undefined } {
  const dt = context.dt;
  const { a, b, c } = tableau;
  const k: tf.Tensor[] = [];
  const abar: tf.Tensor[] = [];
  const g: (tf.Tensor | undefined)[] = params.map(() => undefined);
  const owned: tf.Tensor[] = [];
  try {
    for (let i = 0; i < b.length; i++) {
      const U = combine(u1.values, k, a[i] ?? [], -dt);
      const A = combine(a1, abar, a[i] ?? [], dt);
      if (U !== u1.values) owned.push(U);
      if (A !== a1) owned.push(A);
      const tau = context.time(1 - c[i]!);
      const { value, grads } = vectorJacobianProduct(
        () => {
          const y = rate.evaluate(u1.withValues(U), tau, context);
          return y === U ? tf.clone(y) : y;
        },
        [U, ...params],
        A,
        declared,
      );
      k.push(value);
      abar.push(grads[0] ?? tf.zerosLike(U));
      owned.push(value, abar[i]!);
      accumulate(
        g,
        grads.slice(1).map((gi) => {
          if (gi === undefined || b[i] === 0) {
            gi?.dispose();
            return undefined;
          }
          const scaled = tf.mul(gi, b[i]! * dt);
          gi.dispose();
          return scaled;
        }),
      );
    }
    const aNext = combine(a1, abar, b, dt);
    const uNext = wantState ? combine(u1.values, k, b, -dt) : undefined;
    return {
      a: aNext === a1 ? tf.clone(a1) : aNext,
      g,
      u: uNext === undefined || uNext !== u1.values ? uNext : tf.clone(uNext),
    };
  } catch (error) {
    tf.dispose(g.filter((x) => x !== undefined));
    throw error;
  } finally {
    tf.dispose(owned);
  }
}

/**
 * The backward sweep of method 'adjoint' over a segment: `saved` holds u_{from+1} … u_to (`'checkpoints'`) or u_to
 * (`'backward'`); `u` is the segment's input field (its grids). Returns `[a_from, θ̄_1, …, θ̄_P]`.
 */
export function adjointSweep(
  dy: tf.Tensor,
  saved: tf.Tensor[],
  u: Field,
  segment: Segment,
  params: readonly tf.Tensor[],
  declared: ReadonlySet<number>,
  states: AdjointStates,
): tf.Tensor[] {
  const scheme = segment.scheme as RungeKuttaScheme | EmbeddedRungeKuttaScheme;
  const rate = unsplitRate(scheme.name, scheme.fields);
  const tableau = tableauOf(scheme);
  const scratch = newStatistics();
  const sums: (tf.Tensor | undefined)[] = params.map(() => undefined);
  let a = dy;
  let state = saved[saved.length - 1]!; // u_{n+1}
  try {
    for (let n = segment.to - 1; n >= segment.from; n--) {
      const start = states === 'checkpoints' ? saved[n - segment.from]! : state;
      const backward = states === 'backward' && n > segment.from;
      const step = adjointStep(
        rate,
        tableau,
        u.withValues(start),
        a,
        contextAt(segment.grid, n, scratch),
        params,
        declared,
        backward,
      );
      if (a !== dy) a.dispose();
      a = step.a;
      start.dispose(); // a stored state (the outer pass disposes it again: a no-op) or one integrated backwards
      if (step.u !== undefined) state = step.u;
      accumulate(sums, step.g);
    }
  } catch (error) {
    tf.dispose([...sums.filter((s) => s !== undefined), ...(a === dy ? [] : [a])]);
    throw error;
  }
  return [a, ...sums.map((s, i) => s ?? tf.zerosLike(params[i]!))];
}
