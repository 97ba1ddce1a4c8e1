/**
 * Blocked evaluation of the attention core for cpu and wasm (paper §3; docs/integral-attention.md):
 *
 *     O_k = Σ_{l < e(k)} softmax_l(s_kl + b_kl) V_l,   s = Q Kᵀ·scale,   b_kl = ln w_l (+ −∞ for l > k when causal),
 *
 * computed one block of queries at a time, one (sample, head) at a time: a block of `qn` queries sees its whole
 * key range `[0, e)` at once (e = N, or the block's last query + 1 when causal, which skips the keys outside
 * the causal sub-domain), so the working set is `qn × e` floats and peak memory grows like N·block, never N².
 * Every product is a 2-D matMul with untransposed operands (Kᵀ and Vᵀ are formed once per head): tfjs-wasm's
 * batched matMul and its transposed operands run 5–10× slower than its 2-D path (measured: tools/bench).
 *
 * The gradient (a tf.customGrad) saves only Q, K, V, ln w and O and recomputes each block's P = softmax(s + b):
 * dVᵀ += dOᵀ P, dS = P ⊙ (dO Vᵀ − rowsum(dO ⊙ O)), dQ = dS K·scale, dKᵀ += Qᵀ dS·scale. The weights are data,
 * not parameters: they receive a zero gradient.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BackendError, describeValue } from '../errors.js';
import {
  MASKED_SCORE,
  checkAttentionCore,
  joinBlocks,
  type AttentionCoreInputs,
  type AttentionCoreSizes,
} from './attention-core.js';

/** Floats of one block's score matrix (`qn × e`) that the default block size aims for: 2²⁰ = 4 MiB (cache-sized: measured fastest on wasm). */
export const BLOCK_BUDGET = 1 << 20;

/** The default query block for N tokens: the budget over N, between 16 and N. */
export function defaultAttentionBlock(tokens: number): number {
  if (!Number.isInteger(tokens) || tokens < 1) {
    throw new BackendError('defaultAttentionBlock: tokens', {
      expected: 'an integer ≥ 1 (the number of tokens N)',
      received: describeValue(tokens),
      fix: 'pass the sequence length',
    });
  }
  return Math.min(tokens, Math.max(16, Math.floor(BLOCK_BUDGET / tokens)));
}

/** The key range `[0, e)` a query block `[q0, q0 + qn)` attends to. */
function keyEnd(c: AttentionCoreInputs, n: number, q0: number, qn: number): number {
  return c.causal ? q0 + qn : n;
}

/** The score bias of one query block for sample b: `[1|qn, e]` = ln w (+ −∞ above the diagonal when causal). */
function blockBias(c: AttentionCoreInputs, s: AttentionCoreSizes, b: number, q0: number, qn: number): tf.Tensor2D {
  return tf.tidy(() => {
    const e = keyEnd(c, s.tokens, q0, qn);
    const logW = tf.slice(c.logWeights, [s.weightBatch > 1 ? b : 0, 0], [1, e]); // [1, e]
    if (!c.causal) return logW as tf.Tensor2D;
    const rows = tf.reshape(tf.range(q0, q0 + qn, 1, 'int32'), [qn, 1]); // [qn, 1]
    const cols = tf.reshape(tf.range(0, e, 1, 'int32'), [1, e]); // [1, e]
    return tf.add(logW, tf.mul(tf.cast(tf.greater(cols, rows), 'float32'), MASKED_SCORE)) as tf.Tensor2D; // [qn, e]
  });
}

/** One (sample, head): `[N, ·]` slices and the transposed keys and values `[·, N]`. */
interface Head {
  readonly q: tf.Tensor2D;
  readonly kT: tf.Tensor2D;
  readonly k: tf.Tensor2D;
  readonly v: tf.Tensor2D;
  readonly vT: tf.Tensor2D;
}

function headOf(c: AttentionCoreInputs, s: AttentionCoreSizes, b: number, h: number): Head {
  const take = (t: tf.Tensor4D, width: number) =>
    tf.reshape(tf.slice(t, [b, h, 0, 0], [1, 1, -1, -1]), [s.tokens, width]) as tf.Tensor2D;
  const k = take(c.k, s.keyWidth); // [N, d_k]
  const v = take(c.v, s.valueWidth); // [N, d_v]
  return { q: take(c.q, s.keyWidth), k, kT: tf.transpose(k) as tf.Tensor2D, v, vT: tf.transpose(v) as tf.Tensor2D }; // kT [d_k, N], vT [d_v, N]
}

/** `P = softmax(Q_blk Kᵀ·scale + bias)`: `[qn, e]`. */
function blockProbabilities(
  head: Head,
  bias: tf.Tensor2D,
  scale: number,
  q0: number,
  qn: number,
  e: number,
): tf.Tensor2D {
  const qb = tf.slice(head.q, [q0, 0], [qn, -1]); // [qn, d_k]
  const kT = e === head.kT.shape[1] ? head.kT : tf.slice(head.kT, [0, 0], [-1, e]); // [d_k, e]
  return tf.softmax(tf.add(tf.mul(tf.matMul(qb, kT), scale), bias)) as tf.Tensor2D; // [qn, e]
}

/** Calls `body(b, h, q0, qn, e, bias)` for every sample, query block and head (bias shared by the heads). */
function forEachBlock(
  c: AttentionCoreInputs,
  s: AttentionCoreSizes,
  block: number,
  body: (b: number, h: number, q0: number, qn: number, e: number, bias: tf.Tensor2D) => void,
): void {
  for (let b = 0; b < s.batch; b++) {
    for (let q0 = 0; q0 < s.tokens; q0 += block) {
      const qn = Math.min(block, s.tokens - q0);
      const bias = blockBias(c, s, b, q0, qn);
      for (let h = 0; h < s.heads; h++) body(b, h, q0, qn, keyEnd(c, s.tokens, q0, qn), bias);
      bias.dispose();
    }
  }
}

/** Per-head tensors built once and disposed at the end. */
function headCache(
  c: AttentionCoreInputs,
  s: AttentionCoreSizes,
): { get(b: number, h: number): Head; dispose(): void } {
  const heads = new Map<number, Head>();
  return {
    get(b, h) {
      const key = b * s.heads + h;
      let head = heads.get(key);
      if (head === undefined) heads.set(key, (head = headOf(c, s, b, h)));
      return head;
    },
    dispose() {
      for (const head of heads.values()) tf.dispose(Object.values(head));
    },
  };
}

/** `[B·H]` lists of row blocks → `[B, H, N, w]`. */
function assemble(blocks: tf.Tensor[][], s: AttentionCoreSizes, width: number): tf.Tensor4D {
  const heads = blocks.map((parts) => joinBlocks<tf.Tensor2D>(parts, 0)); // [N, w] each
  const out = tf.reshape(tf.stack(heads), [s.batch, s.heads, s.tokens, width]) as tf.Tensor4D;
  tf.dispose(heads);
  return out;
}

/** Forward: `O [B, H, N, d_v]`. */
function blockedForward(c: AttentionCoreInputs, s: AttentionCoreSizes, block: number): tf.Tensor4D {
  const cache = headCache(c, s);
  const outs: tf.Tensor[][] = Array.from({ length: s.batch * s.heads }, () => []);
  // Blocks are visited sample by sample, query block by query block, head by head: gather per head in order.
  forEachBlock(c, s, block, (b, h, q0, qn, e, bias) => {
    const head = cache.get(b, h);
    outs[b * s.heads + h]!.push(
      tf.tidy(() => {
        const p = blockProbabilities(head, bias, c.scale, q0, qn, e); // [qn, e]
        const v = e === s.tokens ? head.v : tf.slice(head.v, [0, 0], [e, -1]); // [e, d_v]
        return tf.matMul(p, v); // [qn, d_v]
      }),
    );
  });
  cache.dispose();
  return assemble(outs, s, s.valueWidth);
}

/** Pads `[w, e]` with zero columns to `[w, N]`. */
function padColumns(t: tf.Tensor2D, n: number): tf.Tensor2D {
  return t.shape[1] === n
    ? t
    : (tf.pad(t, [
        [0, 0],
        [0, n - t.shape[1]],
      ]) as tf.Tensor2D);
}

/** Backward: gradients with respect to q, k, v, each `[B, H, N, ·]`. */
function blockedBackward(
  c: AttentionCoreInputs,
  s: AttentionCoreSizes,
  o: tf.Tensor4D,
  dO: tf.Tensor4D,
  block: number,
): [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D] {
  const cache = headCache(c, s);
  const bh = s.batch * s.heads;
  const rowsOf = (t: tf.Tensor4D, b: number, h: number, q0: number, qn: number) =>
    tf.reshape(tf.slice(t, [b, h, q0, 0], [1, 1, qn, -1]), [qn, t.shape[3]]) as tf.Tensor2D;
  const dQ: tf.Tensor[][] = Array.from({ length: bh }, () => []);
  const dKT: tf.Tensor2D[] = Array.from({ length: bh }, () => tf.zeros([s.keyWidth, s.tokens]) as tf.Tensor2D); // Σ Qᵀ dS
  const dVT: tf.Tensor2D[] = Array.from({ length: bh }, () => tf.zeros([s.valueWidth, s.tokens]) as tf.Tensor2D); // Σ dOᵀ P
  forEachBlock(c, s, block, (b, h, q0, qn, e, bias) => {
    const head = cache.get(b, h);
    const i = b * s.heads + h;
    const next = tf.tidy(() => {
      const p = blockProbabilities(head, bias, c.scale, q0, qn, e); // [qn, e]
      const dOb = rowsOf(dO, b, h, q0, qn); // [qn, d_v]
      const delta = tf.sum(tf.mul(dOb, rowsOf(o, b, h, q0, qn)), -1, true); // [qn, 1] = rowsum(dO ⊙ O)
      const vT = e === s.tokens ? head.vT : tf.slice(head.vT, [0, 0], [-1, e]); // [d_v, e]
      const k = e === s.tokens ? head.k : tf.slice(head.k, [0, 0], [e, -1]); // [e, d_k]
      const dS = tf.mul(p, tf.sub(tf.matMul(dOb, vT), delta)); // [qn, e] = P ⊙ (dO Vᵀ − δ)
      const qbT = tf.transpose(tf.slice(head.q, [q0, 0], [qn, -1])); // [d_k, qn]
      return {
        dq: tf.mul(tf.matMul(dS, k), c.scale), // [qn, d_k]
        dkT: tf.add(dKT[i]!, padColumns(tf.mul(tf.matMul(qbT, dS), c.scale) as tf.Tensor2D, s.tokens)), // [d_k, N]
        dvT: tf.add(dVT[i]!, padColumns(tf.matMul(tf.transpose(dOb), p) as tf.Tensor2D, s.tokens)), // [d_v, N]
      };
    });
    tf.dispose([dKT[i]!, dVT[i]!]);
    dQ[i]!.push(next.dq);
    dKT[i] = next.dkT as tf.Tensor2D;
    dVT[i] = next.dvT as tf.Tensor2D;
  });
  cache.dispose();
  const transposed = (parts: tf.Tensor2D[], width: number) => {
    const out = tf.tidy(
      () => tf.reshape(tf.stack(parts.map((t) => tf.transpose(t))), [s.batch, s.heads, s.tokens, width]) as tf.Tensor4D,
    );
    tf.dispose(parts);
    return out;
  };
  return [assemble(dQ, s, s.keyWidth), transposed(dKT, s.keyWidth), transposed(dVT, s.valueWidth)];
}

/**
 * The attention core in query blocks of `block` tokens (default {@link defaultAttentionBlock}), with a
 * memory-lean custom gradient; runs on every backend (the fast path of cpu and wasm). Returns `[B, H, N, d_v]`
 * (the caller owns it).
 */
export function blockedAttention(core: AttentionCoreInputs, block?: number): tf.Tensor4D {
  const s = checkAttentionCore('blockedAttention', core);
  const size = block ?? defaultAttentionBlock(s.tokens);
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
