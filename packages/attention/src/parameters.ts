/**
 * The controls θ of integral attention (paper §3): feature kernels W^Q, W^K, W^V on Ω_y × Ω_y, the
 * output kernel W^O, and optional bias functions (docs/integral-attention.md).
 *
 * Discretised with the feature weights folded in (docs/domains-and-quadrature.md), a kernel is a matrix acting on the right:
 * `Q = u W^Q + b^Q`. Shapes, for H heads of key width d_k and value width d_v:
 * `wq, wk: [d, H·d_k]`, `wv: [d, H·d_v]`, `wo: [H·d_v, d_out]`, `bq, bk: [H·d_k]`, `bv: [H·d_v]`, `bo: [d_out]`.
 * Head m uses the columns `m·d_k … (m+1)·d_k − 1` (PyTorch's and GPT-2's layout).
 */
import { tf, describeValue, formatShape } from '@tide/backend';
import { ShapeError } from '@tide/domain';

/** The kernels and biases of one attention operator. Tensors (or variables) owned by the caller. */
export interface AttentionParameters {
  readonly wq: tf.Tensor2D;
  readonly wk: tf.Tensor2D;
  readonly wv: tf.Tensor2D;
  readonly wo: tf.Tensor2D;
  readonly bq?: tf.Tensor1D;
  readonly bk?: tf.Tensor1D;
  readonly bv?: tf.Tensor1D;
  readonly bo?: tf.Tensor1D;
}

/** How the attention operator is discretised. */
export interface AttentionOptions {
  /** Number of heads H (the discretised head integral); must divide the kernels' widths. Default 1. */
  readonly heads?: number;
  /** Restrict both integrals to the causal sub-domain x̃ ≤ x. Default false. */
  readonly causal?: boolean;
  /** The score scale; default `1/√d_k` (unit feature spacing: `1/√|Ω_y|` per head). */
  readonly scale?: number;
  /**
   * How to evaluate the token integral: `'plain'` (the N×N kernel; the reference), `'blocked'` (query
   * blocks for every sample and head at once, memory ∝ B·H·N·block, a recomputing gradient; any backend), `'fused'`
   * (fused WebGL programs tiled over keys; webgl only), or `'auto'` (default: fused on webgl, blocked on cpu
   * and wasm beyond {@link BLOCKED_THRESHOLD} tokens, plain otherwise).
   */
  readonly implementation?: 'plain' | 'blocked' | 'fused' | 'auto';
  /**
   * Queries per block of the blocked path (default: 2²² scores, 16 MiB, over all samples and heads), or keys per
   * tile of the fused path (default: a 16 MiB tile).
   */
  readonly block?: number;
}

/**
 * Above this many tokens `'auto'` uses the blocked path, per backend. On wasm both paths run the same batched
 * products (one block holds every query up to 2²² scores): the same time at 256 tokens (6 heads, d_k 64: 3.9 and
 * 4.0 ms), the blocked path faster and bounded in memory at 1 024 (8 heads, d_k 32: 34 against 40 ms); on cpu they
 * break even up to 512 tokens. Other backends use the value for cpu.
 */
export const BLOCKED_THRESHOLD: Readonly<Record<'wasm' | 'cpu', number>> = Object.freeze({ wasm: 128, cpu: 512 });

/** The sizes read off validated parameters. */
export interface AttentionSizes {
  readonly features: number;
  readonly heads: number;
  readonly keyWidth: number;
  readonly valueWidth: number;
  readonly outputFeatures: number;
  readonly scale: number;
}

function tensorOfRank(name: string, t: unknown, rank: number): tf.Tensor {
  if (!(t instanceof tf.Tensor) || t.rank !== rank) {
    throw new ShapeError(`attention parameters: ${name}`, {
      expected: rank === 2 ? 'a 2-D tensor (a feature kernel as a matrix)' : 'a 1-D tensor (a bias function)',
      received: describeValue(t),
      fix: `pass ${name} as tf.tensor${rank}d(...)`,
    });
  }
  return t;
}

/** Checks `implementation` and `block` (the evaluation path options); throws a {@link ShapeError}. */
export function checkEvaluationOptions(options: AttentionOptions): void {
  if (typeof options !== 'object' || options === null) {
    throw new ShapeError('attention options', {
      expected: 'an options object (or nothing)',
      received: describeValue(options),
      fix: 'pass { heads, causal, implementation, block } or omit it',
    });
  }
  const impl = options.implementation ?? 'auto';
  if (impl !== 'plain' && impl !== 'blocked' && impl !== 'fused' && impl !== 'auto') {
    throw new ShapeError('attention options: implementation', {
      expected: "'plain', 'blocked', 'fused' or 'auto'",
      received: describeValue(impl),
      fix: "omit it for 'auto'",
    });
  }
  if (options.block !== undefined && (!Number.isInteger(options.block) || options.block < 1)) {
    throw new ShapeError('attention options: block', {
      expected: 'an integer ≥ 1',
      received: describeValue(options.block),
      fix: 'e.g. block: 128',
    });
  }
}

/**
 * Checks the parameters against the field's feature count and the number of heads and returns the sizes.
 * Throws a {@link ShapeError} naming the offending parameter and every shape.
 */
export function attentionSizes(
  params: AttentionParameters,
  features: number,
  options: AttentionOptions = {},
): AttentionSizes {
  if (typeof params !== 'object' || params === null) {
    throw new ShapeError('attention parameters', {
      expected: 'an object { wq, wk, wv, wo, bq?, bk?, bv?, bo? }',
      received: describeValue(params),
      fix: 'pass the kernels as tensors',
    });
  }
  const heads = options.heads ?? 1;
  if (!Number.isInteger(heads) || heads < 1) {
    throw new ShapeError('attention options: heads', {
      expected: 'a positive integer',
      received: describeValue(heads),
      fix: 'pass heads ≥ 1',
    });
  }
  const wq = tensorOfRank('wq', params.wq, 2);
  const wk = tensorOfRank('wk', params.wk, 2);
  const wv = tensorOfRank('wv', params.wv, 2);
  const wo = tensorOfRank('wo', params.wo, 2);
  const all = `wq ${formatShape(wq.shape)}, wk ${formatShape(wk.shape)}, wv ${formatShape(wv.shape)}, wo ${formatShape(wo.shape)}`;
  const bad = (expected: string, fix: string) =>
    new ShapeError('attention parameters', {
      expected,
      received: `${all} for a field with ${features} features and ${heads} head(s)`,
      fix,
    });
  if (wq.shape[0] !== features || wk.shape[0] !== features || wv.shape[0] !== features) {
    throw bad(
      `wq, wk, wv with ${features} rows (one per input feature)`,
      "build the kernels for the field's feature count, or transpose PyTorch [out, in] weights",
    );
  }
  if (wq.shape[1] !== wk.shape[1]) throw bad('wq and wk of equal width H·d_k', 'give queries and keys the same width');
  if (wq.shape[1]! % heads !== 0 || wv.shape[1]! % heads !== 0)
    throw bad(`widths divisible by heads = ${heads}`, 'choose a head count that divides the kernel widths');
  if (wo.shape[0] !== wv.shape[1])
    throw bad('wo with as many rows as wv has columns (H·d_v)', 'wo maps the concatenated heads back to the features');
  const keyWidth = wq.shape[1]! / heads;
  const valueWidth = wv.shape[1]! / heads;
  const biases: [string, unknown, number][] = [
    ['bq', params.bq, wq.shape[1]!],
    ['bk', params.bk, wk.shape[1]!],
    ['bv', params.bv, wv.shape[1]!],
    ['bo', params.bo, wo.shape[1]!],
  ];
  for (const [name, b, width] of biases) {
    if (b === undefined) continue;
    const t = tensorOfRank(name, b, 1);
    if (t.shape[0] !== width) {
      throw new ShapeError(`attention parameters: ${name}`, {
        expected: `shape [${width}]`,
        received: formatShape(t.shape),
        fix: `a bias has one value per column of its kernel`,
      });
    }
  }
  checkEvaluationOptions(options);
  const scale = options.scale ?? 1 / Math.sqrt(keyWidth);
  if (!Number.isFinite(scale) || scale <= 0) {
    throw new ShapeError('attention options: scale', {
      expected: 'a positive finite number',
      received: describeValue(scale),
      fix: 'omit it for 1/√d_k',
    });
  }
  return { features, heads, keyWidth, valueWidth, outputFeatures: wo.shape[1]!, scale };
}
