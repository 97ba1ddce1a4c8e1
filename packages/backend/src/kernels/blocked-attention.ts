/**
 * Blocked evaluation of the attention core for cpu and wasm (paper §3; docs/integral-attention.md):
 *
 *     O_k = Σ_{l < e(k)} softmax_l(s_kl + b_kl) V_l,   s = Q Kᵀ·scale,   b_kl = ln w_l (+ −∞ for l > k when causal),
 *
 * computed one block of queries at a time, for every sample and head at once: a block of `qn` queries sees its
 * whole key range `[0, e)` (e = N, or the block's last query + 1 when causal, which skips the keys outside the
 * causal sub-domain), so the working set is `B·H·qn × e` floats and peak memory grows like N·block, never N².
 * Each block is a handful of batched products `[B, H, qn, d_k]·[B, H, e, d_k]ᵀ` (on wasm, one XNNPACK product per
 * sample and head: kernels/wasm-matmul.ts).
 *
 * The gradient (a tf.customGrad) saves only Q, K, V, ln w and O and recomputes each block's P = softmax(s + b):
 * dV += Pᵀ dO, dS = P ⊙ (dO Vᵀ − rowsum(dO ⊙ O)), dQ = dS K·scale, dK += dSᵀ Q·scale. The weights are data,
 * not parameters: they receive a zero gradient.
 */
import { tf } from '#tfjs-core';
import { BackendError, describeValue } from '../errors.js';
import {
  MASKED_SCORE,
  checkAttentionCore,
  joinBlocks,
  type AttentionCoreInputs,
  type AttentionCoreSizes,
} from './attention-core.js';

/** Floats of one block's scores (`B·H·qn × e`) that the default block size aims for: 2²² = 16 MiB. */
export const BLOCK_BUDGET = 1 << 22;

/**
 * The default query block for N tokens and `rows` (sample, head) pairs evaluated together (default 1): the
 * budget over `rows·N`, between 16 and N.
 */
export function defaultAttentionBlock(tokens: number, rows = 1): number {
  if (!Number.isInteger(tokens) || tokens < 1) {
    throw new BackendError('defaultAttentionBlock: tokens', {
      expected: 'an integer ≥ 1 (the number of tokens N)',
      received: describeValue(tokens),
      fix: 'pass the sequence length',
    });
  }
  if (!Number.isInteger(rows) || rows < 1) {
    throw new BackendError('defaultAttentionBlock: rows', {
      expected: 'an integer ≥ 1 (samples × heads evaluated together)',
      received: describeValue(rows),
      fix: 'pass B·H, or omit it for one',
    });
  }
  return Math.min(tokens, Math.max(16, Math.floor(BLOCK_BUDGET / (rows * tokens))));
}

/** The key range `[0, e)` a query block `[q0, q0 + qn)` attends to. */
function keyEnd(c: AttentionCoreInputs, n: number, q0: number, qn: number): number {
  return c.causal ? q0 + qn : n;
}

/** The score bias of one query block: `[B|1, 1, 1|qn, e]` = ln w (+ −∞ above the diagonal when causal). */
function blockBias(c: AttentionCoreInputs, q0: number, qn: number, e: number): tf.Tensor4D {
  return tf.tidy(() => {
    const logW = tf.slice(c.logWeights, [0, 0], [-1, e]); // [B|1, e]
    const bias = tf.reshape(logW, [logW.shape[0], 1, 1, e]); // [B|1, 1, 1, e]
    if (!c.causal) return bias as tf.Tensor4D;
    const future = new Float32Array(qn * e); // [qn, e]: −∞ where key l > query q0 + i
    for (let i = 0; i < qn; i++) future.fill(MASKED_SCORE, i * e + q0 + i + 1, (i + 1) * e);
    return tf.add(bias, tf.tensor4d(future, [1, 1, qn, e])) as tf.Tensor4D; // [B|1, 1, qn, e]
  });
}

/** `t[:, :, r0 : r0 + rn, :]`: `[B, H, rn, w]`. */
function rows(t: tf.Tensor4D, r0: number, rn: number): tf.Tensor4D {
  return r0 === 0 && rn === t.shape[2] ? t : tf.slice(t, [0, 0, r0, 0], [-1, -1, rn, -1]);
}

/** `P = softmax(Q_blk Kᵀ·scale + bias)`: `[B, H, qn, e]`. */
function blockProbabilities(c: AttentionCoreInputs, q0: number, qn: number, e: number): tf.Tensor4D {
  const bias = blockBias(c, q0, qn, e); // [B|1, 1, 1|qn, e]
  const scores = tf.mul(tf.matMul(rows(c.q, q0, qn), rows(c.k, 0, e), false, true), c.scale); // [B, H, qn, e]
  return tf.softmax(tf.add(scores, bias)) as tf.Tensor4D;
}

/** Calls `body(q0, qn, e)` for every query block. */
function forEachBlock(
  s: AttentionCoreSizes,
  c: AttentionCoreInputs,
  block: number,
  body: (q0: number, qn: number, e: number) => void,
): void {
  for (let q0 = 0; q0 < s.tokens; q0 += block) {
    const qn = Math.min(block, s.tokens - q0);
    body(q0, qn, keyEnd(c, s.tokens, q0, qn));
  }
}

/** Forward: `O [B, H, N, d_v]`. */
function blockedForward(c: AttentionCoreInputs, s: AttentionCoreSizes, block: number): tf.Tensor4D {
  const outs: tf.Tensor4D[] = [];
  forEachBlock(s, c, block, (q0, qn, e) => {
    outs.push(tf.tidy(() => tf.matMul(blockProbabilities(c, q0, qn, e), rows(c.v, 0, e)))); // [B, H, qn, d_v]
  });
  return joinBlocks<tf.Tensor4D>(outs, 2);
}

/** Pads `[B, H, e, w]` with zero rows to `[B, H, N, w]`. */
function padRows(t: tf.Tensor4D, n: number): tf.Tensor4D {
  return t.shape[2] === n
    ? t
    : tf.pad(t, [
        [0, 0],
        [0, 0],
        [0, n - t.shape[2]],
        [0, 0],
      ]);
}

/** Backward: gradients with respect to q, k, v, each `[B, H, N, ·]`. */
function blockedBackward(
  c: AttentionCoreInputs,
  s: AttentionCoreSizes,
  o: tf.Tensor4D,
  dO: tf.Tensor4D,
  block: number,
): [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D] {
  const dQ: tf.Tensor4D[] = [];
  let dK = tf.zerosLike(c.k); // [B, H, N, d_k]: Σ dSᵀ Q·scale
  let dV = tf.zerosLike(c.v); // [B, H, N, d_v]: Σ Pᵀ dO
  forEachBlock(s, c, block, (q0, qn, e) => {
    const next = tf.tidy(() => {
      const p = blockProbabilities(c, q0, qn, e); // [B, H, qn, e]
      const dOb = rows(dO, q0, qn); // [B, H, qn, d_v]
      const delta = tf.sum(tf.mul(dOb, rows(o, q0, qn)), -1, true); // [B, H, qn, 1] = rowsum(dO ⊙ O)
      const dS = tf.mul(p, tf.sub(tf.matMul(dOb, rows(c.v, 0, e), false, true), delta)); // [B, H, qn, e]
      return {
        dq: tf.mul(tf.matMul(dS, rows(c.k, 0, e)), c.scale) as tf.Tensor4D, // [B, H, qn, d_k]
        dk: tf.add(dK, padRows(tf.mul(tf.matMul(dS, rows(c.q, q0, qn), true), c.scale), s.tokens)) as tf.Tensor4D, // [B, H, N, d_k]
        dv: tf.add(dV, padRows(tf.matMul(p, dOb, true), s.tokens)) as tf.Tensor4D, // [B, H, N, d_v]
      };
    });
    tf.dispose([dK, dV]);
    dQ.push(next.dq);
    dK = next.dk;
    dV = next.dv;
  });
  return [joinBlocks<tf.Tensor4D>(dQ, 2), dK, dV];
}

/**
 * The attention core in query blocks of `block` tokens (default {@link defaultAttentionBlock} for its B·H rows), with a
 * memory-lean custom gradient; runs on every backend (the fast path of cpu and wasm). Returns `[B, H, N, d_v]`
 * (the caller owns it).
 */
export function blockedAttention(core: AttentionCoreInputs, block?: number): tf.Tensor4D {
  const s = checkAttentionCore('blockedAttention', core);
  const size = block ?? defaultAttentionBlock(s.tokens, s.batch * s.heads);
  if (!Number.isInteger(size) || size < 1) {
    throw new BackendError('blockedAttention: block', {
      expected: 'an integer ≥ 1 (queries per block)',
      received: describeValue(block),
      fix: 'omit it for the memory-budgeted default',
    });
  }
  // The weights are an input too, so the tape keeps them alive for the backward pass (zero gradient).
  const run = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [q, k, v, logWeights] = args as tf.Tensor[];
    const save = args[4] as tf.GradSaveFunc;
    const c: AttentionCoreInputs = {
      q: q as tf.Tensor4D,
      k: k as tf.Tensor4D,
      v: v as tf.Tensor4D,
      logWeights: logWeights as tf.Tensor2D,
      causal: core.causal,
      scale: core.scale,
    };
    const o = blockedForward(c, s, size);
    save([c.q, c.k, c.v, c.logWeights, o]);
    return {
      value: o,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sq, sk, sv, sw, so] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor2D, tf.Tensor4D];
        const sc: AttentionCoreInputs = { q: sq, k: sk, v: sv, logWeights: sw, causal: core.causal, scale: core.scale };
        return [...blockedBackward(sc, s, so, dy as tf.Tensor4D, size), tf.zerosLike(sw)];
      },
    };
  });
  return run(core.q, core.k, core.v, core.logWeights) as tf.Tensor4D;
}
