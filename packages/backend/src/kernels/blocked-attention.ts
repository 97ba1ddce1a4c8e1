/**
 * Blocked (flash-style) evaluation of the attention core for cpu and wasm (paper §3, SPEC §2):
 *
 *     O_k = Σ_l softmax_l(s_kl + b_kl) V_l,   s = Q Kᵀ·scale,   b_kl = ln w_l (+ −∞ for l > k when causal),
 *
 * computed one block of queries × one block of keys at a time with a running maximum and running sum, so the
 * N×N kernel is never held: peak memory grows like N·block, not N². Causal key blocks wholly outside the
 * causal sub-domain are skipped (about half the work). The gradient (a tf.customGrad) saves only Q, K, V,
 * ln w and O, recomputes the row log-sum-exp L with one more blocked pass, and recomputes each block: with
 * P = exp(s + b − L), dV = Pᵀ dO, dP = dO Vᵀ, dS = P ⊙ (dP − rowsum(dO ⊙ O)), dQ = dS K·scale,
 * dK = dSᵀ Q·scale. The weights are data, not parameters: they receive a zero gradient.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BackendError, describeValue } from '../errors.js';
import { MASKED_SCORE, carry, checkAttentionCore, joinBlocks, type AttentionCoreInputs } from './attention-core.js';

/** Default tokens per block of {@link blockedAttention}. */
export const DEFAULT_ATTENTION_BLOCK = 128;

/** Whether key block [k0, k0 + kn) meets the causal sub-domain of query block [q0, q0 + qn). */
function blockIsLive(causal: boolean, q0: number, qn: number, k0: number): boolean {
  return !causal || k0 <= q0 + qn - 1;
}

/** The score bias of one block: `[B|1, 1, 1|qn, kn]` = ln w (+ −∞ above the diagonal when causal). */
function biasBlock(c: AttentionCoreInputs, q0: number, qn: number, k0: number, kn: number): tf.Tensor4D {
  const logW = tf.slice(c.logWeights, [0, k0], [-1, kn]); // [B|1, kn]
  const bias = tf.reshape(logW, [logW.shape[0], 1, 1, kn]); // [B|1, 1, 1, kn]
  if (!c.causal || k0 + kn - 1 <= q0) return bias as tf.Tensor4D; // the block lies inside the causal sub-domain
  const rows = tf.reshape(tf.range(q0, q0 + qn, 1, 'int32'), [qn, 1]); // [qn, 1]
  const cols = tf.reshape(tf.range(k0, k0 + kn, 1, 'int32'), [1, kn]); // [1, kn]
  const future = tf.reshape(tf.mul(tf.cast(tf.greater(cols, rows), 'float32'), MASKED_SCORE), [1, 1, qn, kn]); // [1, 1, qn, kn]
  return tf.add(bias, future) as tf.Tensor4D; // [B|1, 1, qn, kn]
}

/** Forward: `{ o [B, H, N, d_v], lse [B, H, N, 1] }`. Each key block runs in its own scope. */
function blockedForward(c: AttentionCoreInputs, block: number): { o: tf.Tensor4D; lse: tf.Tensor4D } {
  const n = c.q.shape[2];
  const outs: tf.Tensor[] = [];
  const lses: tf.Tensor[] = [];
  for (let q0 = 0; q0 < n; q0 += block) {
    const qn = Math.min(block, n - q0);
    const qb = tf.slice(c.q, [0, 0, q0, 0], [-1, -1, qn, -1]); // [B, H, qn, d_k]
    const rows = [...qb.shape.slice(0, 3), 1];
    let st = { m: tf.fill(rows, -Infinity), l: tf.zeros(rows), acc: tf.zeros([...qb.shape.slice(0, 3), c.v.shape[3]]) }; // running max, sum, Σ p V
    for (let k0 = 0; k0 < n && blockIsLive(c.causal, q0, qn, k0); k0 += block) {
      const kn = Math.min(block, n - k0);
      st = carry(st, tf.tidy(() => {
        const kb = tf.slice(c.k, [0, 0, k0, 0], [-1, -1, kn, -1]); // [B, H, kn, d_k]
        const vb = tf.slice(c.v, [0, 0, k0, 0], [-1, -1, kn, -1]); // [B, H, kn, d_v]
        const s = tf.add(tf.mul(tf.matMul(qb, kb, false, true), c.scale), biasBlock(c, q0, qn, k0, kn)); // [B, H, qn, kn]
        const m = tf.maximum(st.m, tf.max(s, -1, true)); // [B, H, qn, 1]
        const p = tf.exp(tf.sub(s, m)); // [B, H, qn, kn]
        const correction = tf.exp(tf.sub(st.m, m)); // rescales the earlier blocks
        return { m, l: tf.add(tf.mul(st.l, correction), tf.sum(p, -1, true)), acc: tf.add(tf.mul(st.acc, correction), tf.matMul(p, vb)) };
      }));
    }
    outs.push(tf.div(st.acc, st.l));
    lses.push(tf.tidy(() => tf.add(st.m, tf.log(st.l))));
    tf.dispose([qb, st.m, st.l, st.acc]);
  }
  return { o: joinBlocks<tf.Tensor4D>(outs, 2), lse: joinBlocks<tf.Tensor4D>(lses, 2) };
}

/** Backward: gradients with respect to q, k, v. Each (query, key) block pair runs in its own scope. */
function blockedBackward(c: AttentionCoreInputs, o: tf.Tensor4D, lse: tf.Tensor4D, dO: tf.Tensor4D, block: number): [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D] {
  const n = c.q.shape[2];
  const delta = tf.tidy(() => tf.sum(tf.mul(dO, o), -1, true)); // [B, H, N, 1] = rowsum(dO ⊙ O)
  const dKs: tf.Tensor[] = [];
  const dVs: tf.Tensor[] = [];
  for (let k0 = 0; k0 < n; k0 += block) {
    dKs.push(tf.zeros([...c.k.shape.slice(0, 2), Math.min(block, n - k0), c.k.shape[3]]));
    dVs.push(tf.zeros([...c.v.shape.slice(0, 2), Math.min(block, n - k0), c.v.shape[3]]));
  }
  const dQs: tf.Tensor[] = [];
  for (let q0 = 0; q0 < n; q0 += block) {
    const qn = Math.min(block, n - q0);
    const rowsOf = (t: tf.Tensor) => tf.slice(t, [0, 0, q0, 0], [-1, -1, qn, -1]);
    const [qb, dOb, lb, db] = [rowsOf(c.q), rowsOf(dO), rowsOf(lse), rowsOf(delta)];
    let dQb: tf.Tensor = tf.zerosLike(qb);
    for (let j = 0, k0 = 0; k0 < n && blockIsLive(c.causal, q0, qn, k0); j++, k0 += block) {
      const kn = Math.min(block, n - k0);
      const next = tf.tidy(() => {
        const kb = tf.slice(c.k, [0, 0, k0, 0], [-1, -1, kn, -1]);
        const vb = tf.slice(c.v, [0, 0, k0, 0], [-1, -1, kn, -1]);
        const s = tf.add(tf.mul(tf.matMul(qb, kb, false, true), c.scale), biasBlock(c, q0, qn, k0, kn));
        const p = tf.exp(tf.sub(s, lb)); // [B, H, qn, kn]
        const dS = tf.mul(p, tf.sub(tf.matMul(dOb, vb, false, true), db)); // P ⊙ (dO Vᵀ − δ)
        return {
          dQ: tf.add(dQb, tf.mul(tf.matMul(dS, kb), c.scale)),
          dK: tf.add(dKs[j]!, tf.mul(tf.matMul(dS, qb, true, false), c.scale)), // [B, H, kn, d_k]
          dV: tf.add(dVs[j]!, tf.matMul(p, dOb, true, false)), // [B, H, kn, d_v]
        };
      });
      tf.dispose([dQb, dKs[j]!, dVs[j]!]);
      dQb = next.dQ;
      dKs[j] = next.dK;
      dVs[j] = next.dV;
    }
    dQs.push(dQb);
    tf.dispose([qb, dOb, lb, db]);
  }
  delta.dispose();
  return [joinBlocks(dQs, 2), joinBlocks(dKs, 2), joinBlocks(dVs, 2)];
}

/**
 * The attention core in query and key blocks of `block` tokens, with a memory-lean custom gradient; runs on
 * every backend (the fast path of cpu and wasm). Returns `[B, H, N, d_v]` (the caller owns it).
 */
export function blockedAttention(core: AttentionCoreInputs, block = DEFAULT_ATTENTION_BLOCK): tf.Tensor4D {
  checkAttentionCore('blockedAttention', core);
  if (!Number.isInteger(block) || block < 1) {
    throw new BackendError('blockedAttention: block', { expected: 'an integer ≥ 1', received: describeValue(block), fix: `e.g. ${DEFAULT_ATTENTION_BLOCK}` });
  }
  // The weights are an input too, so the tape keeps them alive for the backward pass (zero gradient).
  const run = tf.customGrad((q, k, v, logWeights, save) => {
    const c: AttentionCoreInputs = { q: q as tf.Tensor4D, k: k as tf.Tensor4D, v: v as tf.Tensor4D, logWeights: logWeights as tf.Tensor2D, causal: core.causal, scale: core.scale };
    const { o, lse } = blockedForward(c, block);
    lse.dispose();
    (save as tf.GradSaveFunc)([c.q, c.k, c.v, c.logWeights, o]);
    return {
      value: o,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sq, sk, sv, sw, so] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor2D, tf.Tensor4D];
        const sc: AttentionCoreInputs = { q: sq, k: sk, v: sv, logWeights: sw, causal: core.causal, scale: core.scale };
        const again = blockedForward(sc, block);
        again.o.dispose();
        const grads = blockedBackward(sc, so, again.lse, dy as tf.Tensor4D, block);
        again.lse.dispose();
        return [...grads, tf.zerosLike(sw)];
      },
    };
  });
  return run(core.q, core.k, core.v, core.logWeights) as tf.Tensor4D;
}
