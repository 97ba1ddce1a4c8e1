/**
 * Blocked (flash-style) evaluation of the quadrature-weighted attention core for cpu and wasm:
 *
 *     O_k = Σ_l softmax_l(s_kl + b_kl) V_l,   s = Q Kᵀ·scale,   b = ln w_l (+ −∞ outside the causal sub-domain),
 *
 * computed one block of queries × one block of keys at a time with a running maximum and running sum, so
 * the N×N kernel is never held: peak memory grows like N·block, not N². The gradient (a tf.customGrad) saves
 * only Q, K, V and O, recomputes the row log-sum-exp L with one more blocked pass (a custom gradient may keep
 * only its inputs and output), and recomputes each block: with P = exp(s + b − L),
 * dV = Pᵀ dO, dP = dO Vᵀ, dS = P ⊙ (dP − rowsum(dO ⊙ O)), dQ = dS K·scale, dK = dSᵀ Q·scale.
 * The bias (quadrature weights, causal mask) is data, not a parameter: it receives no gradient.
 */
import { tf } from '@tide/backend';

/** Inputs of the attention core: per-head queries, keys, values and the score bias. */
export interface AttentionCore {
  /** `[B, H, N, d_k]` */
  readonly q: tf.Tensor4D;
  /** `[B, H, N, d_k]` */
  readonly k: tf.Tensor4D;
  /** `[B, H, N, d_v]` */
  readonly v: tf.Tensor4D;
  /** `[B|1, 1, N|1, N]`: ln w (+ causal −∞ as {@link MASKED_SCORE}). */
  readonly bias: tf.Tensor4D;
  readonly scale: number;
}

function biasBlock(bias: tf.Tensor4D, q0: number, qn: number, k0: number, kn: number): tf.Tensor4D {
  const rows = bias.shape[2] === 1 ? [0, 1] : [q0, qn];
  return tf.slice(bias, [0, 0, rows[0]!, k0], [-1, -1, rows[1]!, kn]) as tf.Tensor4D; // [B|1, 1, qn|1, kn]
}

/** Replaces the tensors in `state` by `next`, disposing the old ones (the loop carries only these). */
function carry<T extends Record<string, tf.Tensor>>(state: T, next: T): T {
  tf.dispose(Object.values(state));
  return next;
}

/** Forward: `{ o [B, H, N, d_v], lse [B, H, N, 1] }`. Each key block runs in its own scope. */
function blockedForward(c: AttentionCore, block: number): { o: tf.Tensor4D; lse: tf.Tensor4D } {
  const n = c.q.shape[2];
  const outs: tf.Tensor[] = [];
  const lses: tf.Tensor[] = [];
  for (let q0 = 0; q0 < n; q0 += block) {
    const qn = Math.min(block, n - q0);
    const qb = tf.slice(c.q, [0, 0, q0, 0], [-1, -1, qn, -1]); // [B, H, qn, d_k]
    const rows = [...qb.shape.slice(0, 3), 1];
    let st = { m: tf.fill(rows, -Infinity), l: tf.zeros(rows), acc: tf.zeros([...qb.shape.slice(0, 3), c.v.shape[3]]) }; // running max, sum, Σ p V
    for (let k0 = 0; k0 < n; k0 += block) {
      const kn = Math.min(block, n - k0);
      st = carry(st, tf.tidy(() => {
        const kb = tf.slice(c.k, [0, 0, k0, 0], [-1, -1, kn, -1]); // [B, H, kn, d_k]
        const vb = tf.slice(c.v, [0, 0, k0, 0], [-1, -1, kn, -1]); // [B, H, kn, d_v]
        const s = tf.add(tf.mul(tf.matMul(qb, kb, false, true), c.scale), biasBlock(c.bias, q0, qn, k0, kn)); // [B, H, qn, kn]
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
  const o = (outs.length === 1 ? outs[0]! : tf.concat(outs, 2)) as tf.Tensor4D;
  const lse = (lses.length === 1 ? lses[0]! : tf.concat(lses, 2)) as tf.Tensor4D;
  if (outs.length > 1) tf.dispose([...outs, ...lses]);
  return { o, lse };
}

/** Backward: gradients with respect to q, k, v. Each (query, key) block pair runs in its own scope. */
function blockedBackward(c: AttentionCore, o: tf.Tensor4D, lse: tf.Tensor4D, dO: tf.Tensor4D, block: number): [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D] {
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
    for (let j = 0, k0 = 0; k0 < n; j++, k0 += block) {
      const kn = Math.min(block, n - k0);
      const next = tf.tidy(() => {
        const kb = tf.slice(c.k, [0, 0, k0, 0], [-1, -1, kn, -1]);
        const vb = tf.slice(c.v, [0, 0, k0, 0], [-1, -1, kn, -1]);
        const s = tf.add(tf.mul(tf.matMul(qb, kb, false, true), c.scale), biasBlock(c.bias, q0, qn, k0, kn));
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
  const join = (parts: tf.Tensor[]) => {
    const out = parts.length === 1 ? parts[0]! : tf.concat(parts, 2);
    if (parts.length > 1) tf.dispose(parts);
    return out as tf.Tensor4D;
  };
  delta.dispose();
  return [join(dQs), join(dKs), join(dVs)];
}

/**
 * `softmax(QKᵀ·scale + bias) V` in query and key blocks of `block` tokens, with a memory-lean custom gradient.
 * Returns `[B, H, N, d_v]` (caller owns it).
 */
export function blockedAttentionCore(core: AttentionCore, block = 128): tf.Tensor4D {
  // The bias is an input too, so the tape keeps it alive for the backward pass (it gets a zero gradient).
  const run = tf.customGrad((q, k, v, bias, save) => {
    const c: AttentionCore = { q: q as tf.Tensor4D, k: k as tf.Tensor4D, v: v as tf.Tensor4D, bias: bias as tf.Tensor4D, scale: core.scale };
    const { o, lse } = blockedForward(c, block);
    lse.dispose();
    (save as tf.GradSaveFunc)([c.q, c.k, c.v, c.bias, o]);
    return {
      value: o,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sq, sk, sv, sb, so] = saved as tf.Tensor4D[];
        const sc: AttentionCore = { q: sq!, k: sk!, v: sv!, bias: sb!, scale: core.scale };
        const again = blockedForward(sc, block);
        again.o.dispose();
        const grads = blockedBackward(sc, so!, again.lse, dy as tf.Tensor4D, block);
        again.lse.dispose();
        return [...grads, tf.zerosLike(sb!)];
      },
    };
  });
  return run(core.q, core.k, core.v, core.bias) as tf.Tensor4D;
}
