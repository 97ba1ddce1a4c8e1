/**
 * Fused quadrature-weighted attention on WebGL (paper §3, SPEC §2): the hot path of `@tide/attention` on GPUs.
 *
 *     L_k = log Σ_{l ∈ C(k)} exp(s_kl + ln w_l),   P_kl = exp(s_kl + ln w_l − L_k),   O_k = Σ_l P_kl V_l,
 *
 * with `s_kl = ⟨Q_k, K_l⟩·scale` and C(k) = {l ≤ k} when causal, else all keys. Two GPGPU programs:
 *
 * 1. **row statistics** — one fragment per query k runs over the keys once with a running maximum and
 *    running sum (the scores, the `ln w` shift and the causal sub-domain fused; nothing N×N is written) and
 *    writes `L_k`: `[B·H, N]`;
 * 2. **probability tile** — for the keys `[k0, k0 + T)` it writes `P` (scores, shift, mask and the
 *    normalisation fused): `[B·H, N, T]`, which tfjs's packed matMul multiplies into `V`.
 *
 * The key tiles keep the working set at `B·H·N·T` floats ({@link FUSED_TILE_BUDGET} by default), so the
 * N×N kernel is never materialised for long sequences. The custom gradient saves Q, K, V, ln w and O,
 * recomputes L (program 1) and each tile (program 2): `dV = Pᵀ dO`, `dS = P ⊙ (dO Vᵀ − rowsum(dO ⊙ O))`,
 * `dQ = dS K·scale`, `dK = dSᵀ Q·scale`.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GPGPUProgram, MathBackendWebGL } from '@tensorflow/tfjs-backend-webgl';
import { BackendError, describeValue } from '../errors.js';
import { carry, checkAttentionCore, joinBlocks, type AttentionCoreInputs, type AttentionCoreSizes } from './attention-core.js';

/** Elements of one probability tile (`B·H·N·T`) that the default tile size aims for: 2²² floats = 16 MiB. */
export const FUSED_TILE_BUDGET = 1 << 22;

/** The default key tile: the budget over `B·H·N`, a multiple of 64 between 64 and N. */
export function defaultFusedTile(batchHeads: number, tokens: number): number {
  const t = Math.floor(FUSED_TILE_BUDGET / (batchHeads * tokens) / 64) * 64;
  return Math.min(tokens, Math.max(64, t));
}

/** A float literal GLSL accepts (always with a point). */
function glslFloat(x: number): string {
  return x.toExponential(9);
}

/** The GLSL that loads query row i into `qv` and defines `score(l)` = ⟨q, K_l⟩·scale + ln w_l. */
function scoreSource(s: AttentionCoreSizes, scale: number): string {
  return `
    int wb = ${s.weightBatch > 1 ? `bh / ${s.heads}` : '0'};
    float qv[${s.keyWidth}];
    for (int c = 0; c < ${s.keyWidth}; c++) { qv[c] = getQ(bh, i, c); }
    #define SCORE(key_, res_) { float d_ = 0.0; for (int c_ = 0; c_ < ${s.keyWidth}; c_++) { d_ += qv[c_] * getK(bh, key_, c_); } res_ = d_ * ${glslFloat(scale)} + getLW(wb, key_); }
  `;
}

/** Program 1: `L [B·H, N]`, one pass over the keys with a running max and sum. */
function rowStatsProgram(s: AttentionCoreSizes, causal: boolean, scale: number): GPGPUProgram {
  return {
    variableNames: ['Q', 'K', 'LW'],
    outputShape: [s.batch * s.heads, s.tokens],
    userCode: `
      void main() {
        ivec2 rc = getOutputCoords();
        int bh = rc.x;
        int i = rc.y;
        ${scoreSource(s, scale)}
        int end = ${causal ? 'i + 1' : String(s.tokens)};
        float m = -3.0e38;
        float total = 0.0;
        for (int l = 0; l < ${s.tokens}; l++) {
          if (l >= end) { break; }
          float sc;
          SCORE(l, sc)
          if (sc > m) { total = total * exp(m - sc) + 1.0; m = sc; } else { total += exp(sc - m); }
        }
        setOutput(m + log(total));
      }`,
  };
}

/** Program 2: `P [B·H, N, T]` for the keys `k0 … k0 + T − 1` (k0 a uniform: one compile for all tiles). */
function probabilityTileProgram(s: AttentionCoreSizes, causal: boolean, scale: number, tile: number): GPGPUProgram {
  return {
    variableNames: ['Q', 'K', 'LW', 'LSE'],
    outputShape: [s.batch * s.heads, s.tokens, tile],
    customUniforms: [{ name: 'k0', type: 'int' }],
    userCode: `
      void main() {
        ivec3 rc = getOutputCoords();
        int bh = rc.x;
        int i = rc.y;
        int l = k0 + rc.z;
        ${scoreSource(s, scale)}
        if (${causal ? 'l > i' : 'false'}) {
          setOutput(0.0);
        } else {
          float sc;
          SCORE(l, sc)
          setOutput(exp(sc - getLSE(bh, i)));
        }
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

/** `L [B·H, N]`. */
function rowStats(backend: MathBackendWebGL, f: Flat): tf.Tensor2D {
  return run(backend, rowStatsProgram(f.s, f.causal, f.scale), [f.q, f.k, f.lw]) as tf.Tensor2D;
}

/** Calls `body(P, k0, T)` for each key tile, with P `[B·H, N, T]` alive only during the call. */
function forEachTile(backend: MathBackendWebGL, f: Flat, lse: tf.Tensor2D, body: (p: tf.Tensor3D, k0: number, t: number) => void): void {
  for (let k0 = 0; k0 < f.s.tokens; k0 += f.tile) {
    const t = Math.min(f.tile, f.s.tokens - k0);
    const p = run(backend, probabilityTileProgram(f.s, f.causal, f.scale, t), [f.q, f.k, f.lw, lse], [[k0]]) as tf.Tensor3D; // [B·H, N, T]
    body(p, k0, t);
    p.dispose();
  }
}

/** Forward: `O [B·H, N, d_v]`. */
function fusedForward(backend: MathBackendWebGL, f: Flat): tf.Tensor3D {
  const lse = rowStats(backend, f); // [B·H, N]
  let st = { o: tf.zeros([f.s.batch * f.s.heads, f.s.tokens, f.s.valueWidth]) as tf.Tensor3D };
  forEachTile(backend, f, lse, (p, k0, t) => {
    st = carry(st, tf.tidy(() => ({ o: tf.add(st.o, tf.matMul(p, tf.slice(f.v, [0, k0, 0], [-1, t, -1]))) as tf.Tensor3D }))); // [B·H, N, d_v]
  });
  lse.dispose();
  return st.o;
}

/** Backward: `[dQ, dK, dV]`, each `[B·H, N, ·]`. */
function fusedBackward(backend: MathBackendWebGL, f: Flat, o: tf.Tensor3D, dO: tf.Tensor3D): [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D] {
  const lse = rowStats(backend, f); // [B·H, N]
  const delta = tf.tidy(() => tf.sum(tf.mul(dO, o), -1, true)); // [B·H, N, 1] = rowsum(dO ⊙ O)
  let st = { dq: tf.zerosLike(f.q) as tf.Tensor3D };
  const dKs: tf.Tensor[] = [];
  const dVs: tf.Tensor[] = [];
  forEachTile(backend, f, lse, (p, k0, t) => {
    const next = tf.tidy(() => {
      const kt = tf.slice(f.k, [0, k0, 0], [-1, t, -1]); // [B·H, T, d_k]
      const vt = tf.slice(f.v, [0, k0, 0], [-1, t, -1]); // [B·H, T, d_v]
      const dS = tf.mul(p, tf.sub(tf.matMul(dO, vt, false, true), delta)); // [B·H, N, T]
      return {
        dq: tf.add(st.dq, tf.mul(tf.matMul(dS, kt), f.scale)) as tf.Tensor3D, // [B·H, N, d_k]
        dk: tf.mul(tf.matMul(dS, f.q, true, false), f.scale), // [B·H, T, d_k]
        dv: tf.matMul(p, dO, true, false), // [B·H, T, d_v]
      };
    });
    st = carry(st, { dq: next.dq });
    dKs.push(next.dk);
    dVs.push(next.dv);
  });
  tf.dispose([lse, delta]);
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
    throw new BackendError('fusedAttentionWebgl: tile', { expected: 'an integer ≥ 1 (keys per tile)', received: describeValue(tile), fix: 'omit it for the memory-budgeted default' });
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
        const grads = [tf.reshape(dq, sq!.shape), tf.reshape(dk, sk!.shape), tf.reshape(dv, sv!.shape), tf.zerosLike(sw!)];
        tf.dispose([g.q, g.k, g.v, o3, dy3, dq, dk, dv]);
        return grads;
      },
    };
  });
  return fused(core.q, core.k, core.v, core.logWeights) as tf.Tensor4D;
}
