import { describe, expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { describeEachBackend, expectClose, expectTensorCount } from '@tide/backend/testing';
import { ShapeError, field } from '@tide/domain';
import { IntegralAttention } from './integral-attention.js';
import { fromTorchMultiheadAttention, type TorchMultiheadAttention } from './torch-multihead-attention.js';

const D = 8;
const N = 5;

function torchWeights(seed: number, bias = true): TorchMultiheadAttention {
  return {
    inProjWeight: tf.randomNormal([3 * D, D], 0, 0.4, 'float32', seed) as tf.Tensor2D, // [3d, d]
    outProjWeight: tf.randomNormal([D, D], 0, 0.4, 'float32', seed + 1) as tf.Tensor2D, // [d, d]
    ...(bias && {
      inProjBias: tf.randomNormal([3 * D], 0, 0.2, 'float32', seed + 2) as tf.Tensor1D,
      outProjBias: tf.randomNormal([D], 0, 0.2, 'float32', seed + 3) as tf.Tensor1D,
    }),
  };
}

/**
 * PyTorch's multi-head attention written out from the torch-layout matrices, one sample `x: [N, d]` at a time:
 * per head m, `Q_m = x W_q,mᵀ + b_q,m` with W_q,m the rows m·d_k … of in_proj_weight (K from rows d + m·d_k …,
 * V from 2d + m·d_k …), `softmax(Q_m K_mᵀ/√d_k + mask) V_m`, heads concatenated, then `· W_oᵀ + b_o`.
 * `matMul(…, transposeB)` reads the [out, in] weights as stored: no transposed copy, no head reshapes.
 */
function torchReference(x: tf.Tensor2D, w: TorchMultiheadAttention, heads: number, causal: boolean): tf.Tensor2D {
  return tf.tidy(() => {
    const dk = D / heads;
    const rows = (start: number) => tf.slice(w.inProjWeight, [start, 0], [dk, D]); // [d_k, d]
    const bias = (start: number) =>
      w.inProjBias === undefined ? tf.zeros([dk]) : tf.slice(w.inProjBias, [start], [dk]); // [d_k]
    const mask = causal ? tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([N, N]), -1, 0)), -1e9) : tf.zeros([N, N]); // attn_mask
    const contexts = Array.from({ length: heads }, (_, m) => {
      const q = tf.add(tf.matMul(x, rows(m * dk), false, true), bias(m * dk)); // [N, d_k]
      const k = tf.add(tf.matMul(x, rows(D + m * dk), false, true), bias(D + m * dk)); // [N, d_k]
      const v = tf.add(tf.matMul(x, rows(2 * D + m * dk), false, true), bias(2 * D + m * dk)); // [N, d_k]
      const p = tf.softmax(tf.add(tf.div(tf.matMul(q, k, false, true), Math.sqrt(dk)), mask)); // [N, N]
      return tf.matMul(p, v); // [N, d_k]
    });
    const out = tf.matMul(tf.concat(contexts, 1), w.outProjWeight, false, true); // [N, d]
    return (w.outProjBias === undefined ? out : tf.add(out, w.outProjBias)) as tf.Tensor2D;
  });
}

describeEachBackend('fromTorchMultiheadAttention', () => {
  it.each([
    { heads: 1, causal: false, bias: true },
    { heads: 2, causal: false, bias: true },
    { heads: 4, causal: true, bias: true },
    { heads: 2, causal: true, bias: false },
  ])(
    'imported weights + IntegralAttention equal PyTorch MHA written from the raw matrices ($heads heads, causal $causal, bias $bias)',
    ({ heads, causal, bias }) => {
      const torch = torchWeights(10 * heads + (causal ? 1 : 0), bias);
      const params = fromTorchMultiheadAttention(torch);
      const x = tf.randomNormal([2, N, D], 0, 1, 'float32', 3) as tf.Tensor3D;
      const u = field(x); // the standard token grid: unit weights, as PyTorch
      const out = new IntegralAttention(params, { heads, causal }).evaluate(u, 0);
      const expected = tf.stack(
        [0, 1].map((b) =>
          torchReference(tf.squeeze(tf.slice(x, [b, 0, 0], [1, N, D]), [0]) as tf.Tensor2D, torch, heads, causal),
        ),
      );
      expectClose(out.values, expected, { atol: 1e-5, rtol: 1e-4 });
      tf.dispose([x, out.values, expected, ...Object.values(torch), ...(Object.values(params) as tf.Tensor[])]);
    },
  );

  it('splits in_proj by rows (Q, K, V) and transposes each block and out_proj to [in, out]', async () => {
    const torch = torchWeights(5);
    const params = fromTorchMultiheadAttention(torch);
    const w = (await torch.inProjWeight.array()) as number[][];
    const b = Array.from(await torch.inProjBias!.data());
    const block = (i: number) =>
      Array.from({ length: D }, (_, r) => Array.from({ length: D }, (_, c) => w[i * D + c]![r]!)); // [in, out]
    expectClose(params.wq, block(0), { atol: 0, rtol: 0 });
    expectClose(params.wk, block(1), { atol: 0, rtol: 0 });
    expectClose(params.wv, block(2), { atol: 0, rtol: 0 });
    expectClose(params.wo, tf.transpose(torch.outProjWeight), { atol: 0, rtol: 0 });
    expectClose(params.bq!, b.slice(0, D), { atol: 0, rtol: 0 });
    expectClose(params.bk!, b.slice(D, 2 * D), { atol: 0, rtol: 0 });
    expectClose(params.bv!, b.slice(2 * D), { atol: 0, rtol: 0 });
    expectClose(params.bo!, torch.outProjBias!, { atol: 0, rtol: 0 });
    tf.dispose([...Object.values(torch), ...(Object.values(params) as tf.Tensor[])]);
  });

  it('returns new tensors only (8 with biases, 4 without), keeping its inputs', async () => {
    const torch = torchWeights(6);
    const params = await expectTensorCount(() => fromTorchMultiheadAttention(torch), 8);
    tf.dispose(Object.values(params) as tf.Tensor[]);
    expect(torch.inProjWeight.isDisposed).toBe(false);
    const plain = await expectTensorCount(
      () => fromTorchMultiheadAttention({ inProjWeight: torch.inProjWeight, outProjWeight: torch.outProjWeight }),
      4,
    );
    expect(plain.bq).toBeUndefined();
    tf.dispose([...Object.values(torch), ...(Object.values(plain) as tf.Tensor[])]);
  });
});

describe('fromTorchMultiheadAttention: bad input', () => {
  const inProj = tf.zeros([3 * D, D]) as tf.Tensor2D;
  const outProj = tf.zeros([D, D]) as tf.Tensor2D;

  it('restates every shape and says which one is wrong', () => {
    expect(() =>
      fromTorchMultiheadAttention({ inProjWeight: tf.zeros([2 * D, D]) as tf.Tensor2D, outProjWeight: outProj }),
    ).toThrow(
      /fromTorchMultiheadAttention: inProjWeight: expected shape \[24, 8\] \(d = 8\), received inProjWeight \[16, 8\], inProjBias undefined, outProjWeight \[8, 8\], outProjBias undefined/,
    );
    expect(() =>
      fromTorchMultiheadAttention({ inProjWeight: tf.zeros([D, 3 * D]) as tf.Tensor2D, outProjWeight: outProj }),
    ).toThrow(/looks transposed already/);
    expect(() =>
      fromTorchMultiheadAttention({ inProjWeight: inProj, outProjWeight: tf.zeros([D, 4]) as tf.Tensor2D }),
    ).toThrow(/outProjWeight: expected a square 2-D weight \[d, d\]/);
    expect(() =>
      fromTorchMultiheadAttention({
        inProjWeight: inProj,
        outProjWeight: outProj,
        inProjBias: tf.zeros([D]) as tf.Tensor1D,
      }),
    ).toThrow(/inProjBias: expected shape \[24\]/);
    expect(() =>
      fromTorchMultiheadAttention({
        inProjWeight: inProj,
        outProjWeight: outProj,
        outProjBias: tf.zeros([3 * D]) as tf.Tensor1D,
      }),
    ).toThrow(/outProjBias: expected shape \[8\]/);
    expect(() => fromTorchMultiheadAttention({ inProjWeight: inProj } as never)).toThrow(ShapeError);
    expect(() => fromTorchMultiheadAttention(null as never)).toThrow(
      /expected an object \{ inProjWeight, inProjBias\?, outProjWeight, outProjBias\? \}, received null/,
    );
  });
});
