// An independent float64 implementation of quadrature-weighted multi-head attention, written from the
// formula (loops, no tfjs): the reference the tensor implementation is tested against. `toParams` only turns
// its parameters into the tensors the implementation takes.
import { tf } from '@tide/backend';
import type { AttentionParameters } from './parameters.js';

export type Matrix = number[][];

export interface ReferenceParams {
  wq: Matrix;
  wk: Matrix;
  wv: Matrix;
  wo: Matrix;
  bq?: number[];
  bk?: number[];
  bv?: number[];
  bo?: number[];
}

/** A deterministic generator of normal-ish numbers. */
export function seeded(seed: number): () => number {
  let s = seed >>> 0;
  const uniform = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

export function randomMatrix(rows: number, cols: number, next: () => number, scale = 1): Matrix {
  return Array.from({ length: rows }, () => Array.from({ length: cols }, () => scale * next()));
}

function affine(x: number[], w: Matrix, b?: number[]): number[] {
  const out = new Array<number>(w[0]!.length).fill(0);
  for (let j = 0; j < out.length; j++) {
    let s = b?.[j] ?? 0;
    for (let i = 0; i < x.length; i++) s += x[i]! * w[i]![j]!;
    out[j] = s;
  }
  return out;
}

/**
 * Attention of query rows `xq` over key/value rows `xk` with key weights `w` (≥ 0):
 * out_k = Σ_m Σ_l softmax_l(q_m,k·k_m,l·scale + ln w_l) v_m,l W^O_m + b^O.
 * `allowed(k, l)` restricts keys (causal). Returns outputs and α `[H][Nq][Nk]`.
 */
export function referenceAttention(
  xq: Matrix,
  xk: Matrix,
  w: number[],
  p: ReferenceParams,
  heads: number,
  options: { scale?: number; allowed?: (k: number, l: number) => boolean } = {},
): { out: Matrix; alpha: number[][][] } {
  const dk = p.wq[0]!.length / heads;
  const dv = p.wv[0]!.length / heads;
  const scale = options.scale ?? 1 / Math.sqrt(dk);
  const q = xq.map((x) => affine(x, p.wq, p.bq));
  const k = xk.map((x) => affine(x, p.wk, p.bk));
  const v = xk.map((x) => affine(x, p.wv, p.bv));
  const dOut = p.wo[0]!.length;
  const out = xq.map(() => new Array<number>(dOut).fill(0));
  const alpha: number[][][] = [];
  for (let m = 0; m < heads; m++) {
    const am: number[][] = [];
    for (let a = 0; a < xq.length; a++) {
      const logits = xk.map((_, l) => {
        if (w[l]! <= 0 || (options.allowed !== undefined && !options.allowed(a, l))) return -Infinity;
        let s = 0;
        for (let c = 0; c < dk; c++) s += q[a]![m * dk + c]! * k[l]![m * dk + c]!;
        return s * scale + Math.log(w[l]!);
      });
      const max = Math.max(...logits);
      const e = logits.map((s) => (s === -Infinity ? 0 : Math.exp(s - max)));
      const z = e.reduce((x, y) => x + y, 0);
      const row = e.map((x) => x / z);
      am.push(row);
      const ctx = new Array<number>(dv).fill(0);
      for (let l = 0; l < xk.length; l++) for (let c = 0; c < dv; c++) ctx[c] += row[l]! * v[l]![m * dv + c]!;
      for (let j = 0; j < dOut; j++) for (let c = 0; c < dv; c++) out[a]![j] += ctx[c]! * p.wo[m * dv + c]![j]!;
    }
    alpha.push(am);
  }
  for (const row of out) for (let j = 0; j < dOut; j++) row[j] += p.bo?.[j] ?? 0;
  return { out, alpha };
}

/** Random reference parameters of width `d`: kernels with entries in ±0.5·scale, biases in ±0.1. */
export function randomReferenceParams(d: number, next: () => number): ReferenceParams {
  return {
    wq: randomMatrix(d, d, next, 0.5),
    wk: randomMatrix(d, d, next, 0.5),
    wv: randomMatrix(d, d, next, 0.5),
    wo: randomMatrix(d, d, next, 0.5),
    bq: randomMatrix(1, d, next, 0.1)[0]!,
    bk: randomMatrix(1, d, next, 0.1)[0]!,
    bv: randomMatrix(1, d, next, 0.1)[0]!,
    bo: randomMatrix(1, d, next, 0.1)[0]!,
  };
}

/** The reference parameters as tensors (the caller owns them). */
export function toParams(p: ReferenceParams): AttentionParameters {
  return {
    wq: tf.tensor2d(p.wq),
    wk: tf.tensor2d(p.wk),
    wv: tf.tensor2d(p.wv),
    wo: tf.tensor2d(p.wo),
    ...(p.bq && { bq: tf.tensor1d(p.bq) }),
    ...(p.bk && { bk: tf.tensor1d(p.bk) }),
    ...(p.bv && { bv: tf.tensor1d(p.bv) }),
    ...(p.bo && { bo: tf.tensor1d(p.bo) }),
  };
}
