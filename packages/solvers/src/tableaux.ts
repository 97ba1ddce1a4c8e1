/**
 * Butcher tableaux of the embedded Runge–Kutta pairs (paper §5, continuous depth: solves of `u_t = G(u, θ(t))`
 * that meet a tolerance; docs/continuous-depth.md, "Adaptive step-size control").
 *
 * An embedded pair shares its stages `k_i = F(u_n + Δt Σ_j a_ij k_j, t_n + c_i Δt)` between two solutions,
 *
 *     u_{n+1} = u_n + Δt Σ_i b_i k_i       (order p: the solution that is propagated, "local extrapolation")
 *     û_{n+1} = u_n + Δt Σ_i b̂_i k_i       (order p − 1: the embedded one)
 *
 * and `u_{n+1} − û_{n+1} = Δt Σ_i (b_i − b̂_i) k_i` estimates the local error of the lower-order solution,
 * O(Δt^p). Both pairs here are FSAL ("first same as last"): the last row of `a` equals `b` and `c_s = 1`, so the
 * last stage is `F(u_{n+1}, t_{n+1})`, the first stage of the next step.
 */

/** An explicit embedded Runge–Kutta pair: `a` strictly lower triangular (row i lists a_i0 … a_i,i−1). */
export interface EmbeddedTableau {
  readonly name: string;
  /** p, the order of `b` (the propagated solution). */
  readonly order: number;
  /** The order of `b̂` (the embedded solution), p − 1. */
  readonly embeddedOrder: number;
  readonly a: readonly (readonly number[])[];
  readonly b: readonly number[];
  readonly bHat: readonly number[];
  readonly c: readonly number[];
  /** First same as last: `a[s−1] = b` and `c[s−1] = 1`. */
  readonly fsal: boolean;
}

function freeze(t: EmbeddedTableau): EmbeddedTableau {
  return Object.freeze({
    ...t,
    a: Object.freeze(t.a.map((row) => Object.freeze([...row]))),
    b: Object.freeze([...t.b]),
    bHat: Object.freeze([...t.bHat]),
    c: Object.freeze([...t.c]),
  });
}

/**
 * Bogacki–Shampine 3(2): 4 stages, FSAL, so 3 new rate evaluations per step. P. Bogacki and L. F. Shampine,
 * "A 3(2) pair of Runge–Kutta formulas", Appl. Math. Lett. 2(4), 321–325 (1989). (MATLAB's `ode23`.)
 */
export const BOGACKI_SHAMPINE_32: EmbeddedTableau = freeze({
  name: 'bogacki-shampine-3(2)',
  order: 3,
  embeddedOrder: 2,
  a: [[], [1 / 2], [0, 3 / 4], [2 / 9, 1 / 3, 4 / 9]],
  b: [2 / 9, 1 / 3, 4 / 9, 0],
  bHat: [7 / 24, 1 / 4, 1 / 3, 1 / 8],
  c: [0, 1 / 2, 3 / 4, 1],
  fsal: true,
});

/**
 * Dormand–Prince 5(4) ("DOPRI5"): 7 stages, FSAL, so 6 new rate evaluations per step. J. R. Dormand and
 * P. J. Prince, "A family of embedded Runge–Kutta formulae", J. Comput. Appl. Math. 6(1), 19–26 (1980);
 * Hairer, Nørsett & Wanner, Solving ODEs I, §II.5, Table 5.2. (MATLAB's `ode45`, SciPy's `RK45`.)
 */
export const DORMAND_PRINCE_54: EmbeddedTableau = freeze({
  name: 'dormand-prince-5(4)',
  order: 5,
  embeddedOrder: 4,
  a: [
    [],
    [1 / 5],
    [3 / 40, 9 / 40],
    [44 / 45, -56 / 15, 32 / 9],
    [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
    [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
    [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
  ],
  b: [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0],
  bHat: [5179 / 57600, 0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40],
  c: [0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1, 1],
  fsal: true,
});
