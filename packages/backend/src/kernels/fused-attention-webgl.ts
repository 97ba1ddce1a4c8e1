/**
 * Fused quadrature-weighted attention on WebGL (paper §3; docs/integral-attention.md): the hot path of `@tide/attention` on GPUs.
 *
 *     O_k = Σ_{l ∈ C(k)} P_kl V_l,   P_kl = exp(s_kl + ln w_l − L_k),   L_k = log Σ_{l ∈ C(k)} exp(s_kl + ln w_l),
 *
 * with `s_kl = ⟨Q_k, K_l⟩·scale` and C(k) = {l ≤ k} when causal, else all keys. One pass over key tiles
 * `[k0, k0 + T)` (flash-style): the tile's scores `S = (Q·scale) K_tᵀ` `[B·H, R, T]` come from tfjs's packed
 * matMul, and two GPGPU programs fuse everything else —
 *
 * 1. **tile maximum** — per query row, the running maximum `m ← max(m, max_l S_kl + ln w_l)` over the tile's
 *    keys inside the causal sub-domain: `[B·H, R]`;
 * 2. **tile exponentials** — `exp(S_kl + ln w_l − m_k)`, 0 outside the causal sub-domain: `[B·H, R, T]`;
 *
 * then the running sum and output are rescaled by `exp(m_old − m_new)` and `O += P V_t` (packed matMul). When
 * causal, a tile only visits the queries `k ≥ k0` (R = N − k0): the keys outside the causal sub-domain are
 * skipped, not masked. The working set is one tile, `B·H·N·T` floats ({@link FUSED_TILE_BUDGET} by default),
 * so the N×N kernel is never materialised for long sequences. The custom gradient saves Q, K, V, ln w and O,
 * recomputes L with a statistics-only pass and each tile's `P` (program 2 with L): `dV_t = Pᵀ dO`, `dS = P ⊙ (dO V_tᵀ − rowsum(dO ⊙ O))`,
 * `dQ += dS K_t·scale`, `dK_t = dSᵀ Q·scale`.
 */
import { tf } from '#tfjs-core';
import type { GPGPUProgram, MathBackendWebGL } from '@tensorflow/tfjs-backend-webgl';
import { BackendError, describeValue } from '../errors.js';
import {
  carry,
  checkAttentionCore,
  joinBlocks,
  type AttentionCoreInputs,
  type AttentionCoreSizes,
} from './attention-core.js';

/** Elements of one score tile (`B·H·N·T`) that the default tile size aims for: 2²² floats = 16 MiB. */
export const FUSED_TILE_BUDGET = 1 << 22;

/** The default key tile: the budget over `B·H·N`, a multiple of 64 between 64 and N. */
export function defaultFusedTile(batchHeads: number, tokens: number): number {
  for (const [name, value] of [
    ['batchHeads', batchHeads],
    ['tokens', tokens],
  ] as const) {
    if (!Number.isInteger(value) || value < 1) {
      throw new BackendError(`defaultFusedTile: ${name}`, {
        expected: 'an integer ≥ 1 (B·H, then N)',
        received: describeValue(value),
        fix: 'pass batch × heads and the sequence length',
      });
    }
  }
  const t = Math.floor(FUSED_TILE_BUDGET / (batchHeads * tokens) / 64) * 64;
  return Math.min(tokens, Math.max(64, t));
}

/** The lowest running maximum (finite, so that `exp(m_old − m_new)` never meets ∞ − ∞). */
const NO_MAXIMUM = '-3.0e38';

/** Shared GLSL: the row `i` of the output's query `q0 + i`, its weight row `wb`, and `inside(l)` (the causal bound). */
function rowPrelude(s: AttentionCoreSizes, causal: boolean): string {
  return `
        int bh = rc.x;
        int i = q0 + rc.y;
        int wb = ${s.weightBatch > 1 ? `bh / ${s.heads}` : '0'};
        #define INSIDE(l_) (${causal ? 'l_ <= i' : 'true'})`;
}

/** Program 1: the running maximum `[B·H, R]` after the keys `k0 … k0 + T − 1` (q0, k0 uniforms: one compile per T). */
function tileMaximumProgram(
  s: AttentionCoreSizes,
  causal: boolean,
  rows: number,
  tile: number,
  previous: boolean,
): GPGPUProgram {
  return {
    variableNames: previous ? ['S', 'LW', 'M'] : ['S', 'LW'],
    outputShape: [s.batch * s.heads, rows],
    customUniforms: [
      { name: 'q0', type: 'int' },
      { name: 'k0', type: 'int' },
    ],
    userCode: `
      void main() {
        ivec2 rc = getOutputCoords();${rowPrelude(s, causal)}
        float m = ${previous ? 'getM(bh, rc.y)' : NO_MAXIMUM};
        for (int c = 0; c < ${tile}; c++) {
          int l = k0 + c;
          if (!INSIDE(l)) { break; }
          m = max(m, getS(bh, rc.y, c) + getLW(wb, l));
        }
        setOutput(m);
      }`,
  };
}

/** Program 2: `exp(S + ln w − m)` `[B·H, R, T]`, 0 outside the causal sub-domain (m: the running maximum, or L). */
function tileExponentialProgram(s: AttentionCoreSizes, causal: boolean, rows: number, tile: number): GPGPUProgram {
  return {
    variableNames: ['S', 'LW', 'M'],
    outputShape: [s.batch * s.heads, rows, tile],
    customUniforms: [
      { name: 'q0', type: 'int' },
      { name: 'k0', type: 'int' },
    ],
    userCode: `
      void main() {
        ivec3 rc = getOutputCoords();${rowPrelude(s, causal)}
        int l = k0 + rc.z;
        setOutput(INSIDE(l) ? exp(getS(bh, rc.y, rc.z) + getLW(wb, l) - getM(bh, rc.y)) : 0.0);
      }`,
  };
}

/** The active backend as WebGL, or a {@link BackendError}. */
function webglBackend(subject: string): MathBackendWebGL {
  const name = tf.getBackend();
  const backend = tf.backend() as Partial<MathBackendWebGL>;
  if (name !== 'webgl' || typeof backend.compileAndRun !== 'function') {
    throw new BackendError(subject, {
      expected: 'the webgl backend (the fused kernel is a WebGL program)',
      received: `the ${describeValue(name)} backend`,
      fix: "call initEngine({ backend: 'webgl' }) in a browser, or use blockedAttention on cpu and wasm",
    });
  }
  return backend as MathBackendWebGL;
}

/** Runs a program and returns its output as a tracked tensor. */
function run(backend: MathBackendWebGL, program: GPGPUProgram, inputs: tf.Tensor[], uniforms?: number[][]): tf.Tensor {
  return tf.engine().makeTensorFromTensorInfo(backend.compileAndRun(program, inputs, 'float32', uniforms));
}

/** Everything one evaluation needs, flattened to `[B·H, N, ·]`. */
interface Flat {
  readonly s: AttentionCoreSizes;
  readonly q: tf.Tensor3D;
  readonly k: tf.Tensor3D;
  readonly v: tf.Tensor3D;
  readonly lw: tf.Tensor2D;
  readonly causal: boolean;
  readonly scale: number;
  readonly tile: number;
}

/** One key tile: keys `[k0, k0 + t)`, the queries `[q0, N)` it reaches (q0 = k0 when causal, else 0). */
interface Tile {
  readonly k0: number;
  readonly t: number;
  readonly q0: number;
  readonly rows: number;
}

function tilesOf(f: Flat): Tile[] {
  const tiles: Tile[] = [];
  for (let k0 = 0; k0 < f.s.tokens; k0 += f.tile) {
    const q0 = f.causal ? k0 : 0;
    tiles.push({ k0, t: Math.min(f.tile, f.s.tokens - k0), q0, rows: f.s.tokens - q0 });
  }
  return tiles;
}

/** Rows `[q0, N)` of `[B·H, N, ·]` or `[B·H, N]`. */
function rowsOf<T extends tf.Tensor>(x: T, q0: number): T {
  if (q0 === 0) return x;
  return (x.rank === 2 ? tf.slice(x, [0, q0], [-1, -1]) : tf.slice(x, [0, q0, 0], [-1, -1, -1])) as T;
}

/** `x` with rows `[q0, N)` replaced by `tail`. */
function withRows<T extends tf.Tensor>(x: T, q0: number, tail: T): T {
  if (q0 === 0) return tail;
  const head = x.rank === 2 ? tf.slice(x, [0, 0], [-1, q0]) : tf.slice(x, [0, 0, 0], [-1, q0, -1]);
  return tf.concat([head, tail], 1) as T;
}

/** The tile's scores `(Q·scale)_rows K_tᵀ`: `[B·H, R, T]`. */
function tileScores(qs: tf.Tensor3D, k: tf.Tensor3D, tile: Tile): tf.Tensor3D {
  const kt = tf.slice(k, [0, tile.k0, 0], [-1, tile.t, -1]); // [B·H, T, d_k]
  return tf.matMul(rowsOf(qs, tile.q0), kt, false, true); // [B·H, R, T]
}

/** The running state of a tile pass: maximum and sum `[B·H, N]`, and (when values are summed) `O` `[B·H, N, d_v]`. */
type PassState = {
  m?: tf.Tensor2D;
  sum?: tf.Tensor2D;
  o?: tf.Tensor3D;
};

/**
 * One pass over the key tiles with a running maximum and sum (and, with `values`, the running `Σ P V`):
 * returns `m`, `sum` `[B·H, N]` and `o` `[B·H, N, d_v]` unnormalised (O = o / sum, L = m + log sum).
 */
function tilePass(
  backend: MathBackendWebGL,
  f: Flat,
  qs: tf.Tensor3D,
  values: boolean,
): Required<PassState> | Omit<Required<PassState>, 'o'> {
  let st: PassState = {};
  for (const tile of tilesOf(f)) {
    const next = tf.tidy(() => {
      const uniforms = [[tile.q0], [tile.k0]];
      const scores = tileScores(qs, f.k, tile); // [B·H, R, T]
      const mOld = st.m && rowsOf(st.m, tile.q0); // [B·H, R]
      const mNew = run(
        backend,
        tileMaximumProgram(f.s, f.causal, tile.rows, tile.t, mOld !== undefined),
        mOld ? [scores, f.lw, mOld] : [scores, f.lw],
        uniforms,
      ) as tf.Tensor2D; // [B·H, R]
      const p = run(
        backend,
        tileExponentialProgram(f.s, f.causal, tile.rows, tile.t),
        [scores, f.lw, mNew],
        uniforms,
      ) as tf.Tensor3D; // [B·H, R, T]
      scores.dispose();
      const tileSum = tf.sum(p, -1) as tf.Tensor2D; // [B·H, R]
      const pv = values ? (tf.matMul(p, tf.slice(f.v, [0, tile.k0, 0], [-1, tile.t, -1])) as tf.Tensor3D) : undefined; // [B·H, R, d_v]
      if (!mOld || !st.m || !st.sum) return { m: mNew, sum: tileSum, ...(pv ? { o: pv } : {}) };
      const correction = tf.exp(tf.sub(mOld, mNew)) as tf.Tensor2D; // [B·H, R] = exp(m_old − m_new) ≤ 1
      const out: PassState = {
        m: withRows(st.m, tile.q0, mNew),
        sum: withRows(st.sum, tile.q0, tf.add(tf.mul(rowsOf(st.sum, tile.q0), correction), tileSum) as tf.Tensor2D),
      };
      if (pv && st.o)
        out.o = withRows(
          st.o,
          tile.q0,
          tf.add(tf.mul(rowsOf(st.o, tile.q0), tf.expandDims(correction, -1)), pv) as tf.Tensor3D,
        );
      return out;
    });
    st = carry(st as Record<string, tf.Tensor>, next as Record<string, tf.Tensor>) as PassState;
  }
  return st as Required<PassState>;
}

/** Forward: `O [B·H, N, d_v]`. */
function fusedForward(backend: MathBackendWebGL, f: Flat): tf.Tensor3D {
  const qs = tf.mul(f.q, f.scale) as tf.Tensor3D; // [B·H, N, d_k]
  const { m, sum, o } = tilePass(backend, f, qs, true) as Required<PassState>;
  const out = tf.tidy(() => tf.div(o, tf.expandDims(sum, -1)) as tf.Tensor3D); // [B·H, N, d_v]
  tf.dispose([qs, m, sum, o]);
  return out;
}

/** Backward: `[dQ, dK, dV]`, each `[B·H, N, ·]`, from the saved `O`; L is recomputed by a statistics-only pass. */
function fusedBackward(
  backend: MathBackendWebGL,
  f: Flat,
  o: tf.Tensor3D,
  dO: tf.Tensor3D,
): [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D] {
  const qs = tf.mul(f.q, f.scale) as tf.Tensor3D; // [B·H, N, d_k]
  const stats = tilePass(backend, f, qs, false);
  const lse = tf.tidy(() => tf.add(stats.m, tf.log(stats.sum)) as tf.Tensor2D); // [B·H, N] = L
  tf.dispose([stats.m, stats.sum]);
  const delta = tf.tidy(() => tf.sum(tf.mul(dO, o), -1, true)); // [B·H, N, 1] = rowsum(dO ⊙ O)
  let st = { dq: tf.zerosLike(f.q) as tf.Tensor3D };
  const dKs: tf.Tensor[] = [];
  const dVs: tf.Tensor[] = [];
  for (const tile of tilesOf(f)) {
    const next = tf.tidy(() => {
      const scores = tileScores(qs, f.k, tile); // [B·H, R, T]
      const p = run(
        backend,
        tileExponentialProgram(f.s, f.causal, tile.rows, tile.t),
        [scores, f.lw, rowsOf(lse, tile.q0)],
        [[tile.q0], [tile.k0]],
      ) as tf.Tensor3D; // [B·H, R, T]
      const kt = tf.slice(f.k, [0, tile.k0, 0], [-1, tile.t, -1]); // [B·H, T, d_k]
      const vt = tf.slice(f.v, [0, tile.k0, 0], [-1, tile.t, -1]); // [B·H, T, d_v]
      const dOr = rowsOf(dO, tile.q0); // [B·H, R, d_v]
      const dS = tf.mul(p, tf.sub(tf.matMul(dOr, vt, false, true), rowsOf(delta, tile.q0))); // [B·H, R, T]
      const dqRows = tf.add(rowsOf(st.dq, tile.q0), tf.mul(tf.matMul(dS, kt), f.scale)) as tf.Tensor3D; // [B·H, R, d_k]
      return {
        dq: withRows(st.dq, tile.q0, dqRows),
        dk: tf.matMul(dS, rowsOf(qs, tile.q0), true, false), // [B·H, T, d_k] = dSᵀ (Q·scale)
        dv: tf.matMul(p, dOr, true, false), // [B·H, T, d_v]
      };
    });
    st = carry(st, { dq: next.dq });
    dKs.push(next.dk);
    dVs.push(next.dv);
  }
  tf.dispose([qs, delta, lse]);
  return [st.dq, joinBlocks(dKs, 1), joinBlocks(dVs, 1)];
}

/**
 * The attention core as fused WebGL programs, tiled over `tile` keys (default {@link defaultFusedTile}), with a
 * custom gradient. Requires the `webgl` backend. Returns `[B, H, N, d_v]` (the caller owns it).
 *
 * A query whose causal sub-domain holds only weight-0 keys gets the plain average of those keys' values
 * (finite, never NaN); such rows belong to padding and carry no weight.
 */
export function fusedAttentionWebgl(core: AttentionCoreInputs, tile?: number): tf.Tensor4D {
  const s = checkAttentionCore('fusedAttentionWebgl', core);
  const backend = webglBackend('fusedAttentionWebgl');
  const bh = s.batch * s.heads;
  const t = tile ?? defaultFusedTile(bh, s.tokens);
  if (!Number.isInteger(t) || t < 1) {
    throw new BackendError('fusedAttentionWebgl: tile', {
      expected: 'an integer ≥ 1 (keys per tile)',
      received: describeValue(tile),
      fix: 'omit it for the memory-budgeted default',
    });
  }
  const flatOf = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, lw: tf.Tensor): Flat => ({
    s,
    q: tf.reshape(q, [bh, s.tokens, s.keyWidth]), // [B·H, N, d_k]
    k: tf.reshape(k, [bh, s.tokens, s.keyWidth]), // [B·H, N, d_k]
    v: tf.reshape(v, [bh, s.tokens, s.valueWidth]), // [B·H, N, d_v]
    lw: lw as tf.Tensor2D,
    causal: core.causal,
    scale: core.scale,
    tile: Math.min(t, s.tokens),
  });
  const fused = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [q, k, v, lw] = args as tf.Tensor[];
    const save = args[4] as tf.GradSaveFunc;
    const f = flatOf(q!, k!, v!, lw!);
    const o = fusedForward(backend, f);
    const out = tf.reshape(o, [s.batch, s.heads, s.tokens, s.valueWidth]) as tf.Tensor4D; // [B, H, N, d_v]
    tf.dispose([f.q, f.k, f.v, o]);
    save([q!, k!, v!, lw!, out]);
    return {
      value: out,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sq, sk, sv, sw, so] = saved as tf.Tensor[];
        const g = flatOf(sq!, sk!, sv!, sw!);
        const o3 = tf.reshape(so!, [bh, s.tokens, s.valueWidth]) as tf.Tensor3D;
        const dy3 = tf.reshape(dy, [bh, s.tokens, s.valueWidth]) as tf.Tensor3D;
        const [dq, dk, dv] = fusedBackward(backend, g, o3, dy3);
        const grads = [
          tf.reshape(dq, sq!.shape),
          tf.reshape(dk, sk!.shape),
          tf.reshape(dv, sv!.shape),
          tf.zerosLike(sw!),
        ];
        tf.dispose([g.q, g.k, g.v, o3, dy3, dq, dk, dv]);
        return grads;
      },
    };
  });
  return fused(core.q, core.k, core.v, core.logWeights) as tf.Tensor4D;
}
