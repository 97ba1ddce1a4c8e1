// A user composes a pre-LN Transformer layer from the operator packages alone (installed from their
// tarballs, no @tide/transformer): attention and an FFN from PyTorch-layout weights, pre-norm rates, Lie
// splitting. The Δt = 1 step must equal the pre-LN layer written the ordinary way from the raw matrices.
import { IntegralAttention, fromTorchMultiheadAttention } from '@tide/attention';
import { field, initEngine, tf } from '@tide/domain';
import { feedforwardRate, fromTorchFeedforward } from '@tide/feedforward';
import { affineStep, layerNormConstraint, preNormRate } from '@tide/normalization';
import { explicitStep, lieSplitting, solve } from '@tide/solvers';

const engine = await initEngine();
const d = 8;
let seed = 1;
const w = (shape: number[]) => tf.randomNormal(shape, 0, 0.3, 'float32', seed++);
const raw = [w([3 * d, d]), w([3 * d]), w([d, d]), w([d]), w([2 * d, d]), w([2 * d]), w([d, 2 * d]), w([d])];
const mha = fromTorchMultiheadAttention({
  inProjWeight: raw[0] as tf.Tensor2D,
  inProjBias: raw[1] as tf.Tensor1D,
  outProjWeight: raw[2] as tf.Tensor2D,
  outProjBias: raw[3] as tf.Tensor1D,
});
const ffn = fromTorchFeedforward({
  linear1Weight: raw[4] as tf.Tensor2D,
  linear1Bias: raw[5] as tf.Tensor1D,
  linear2Weight: raw[6] as tf.Tensor2D,
  linear2Bias: raw[7] as tf.Tensor1D,
});
const ln = layerNormConstraint({ epsilon: 1e-5 });
const affine = affineStep(tf.ones([d]) as tf.Tensor1D, tf.zeros([d]) as tf.Tensor1D);
const attention = new IntegralAttention(mha, { heads: 2, causal: true });
const g1 = preNormRate(ln, affine, attention);
const g2 = preNormRate(ln, affine, feedforwardRate(ffn, 'gelu-erf'));
const u0 = field(w([1, 5, d]) as tf.Tensor3D);
const sol = solve(u0, lieSplitting([explicitStep(g1), explicitStep(g2)]), { t1: 1 });

// The same layer, written the ordinary way from the raw PyTorch-layout matrices (no TIDE operator):
// u + Attn(LN u), then + FFN(LN ·), with Linear = x Wᵀ + b, causal softmax(QKᵀ/√d_k) V per head, exact GELU.
const [inW, inB, outW, outB, w1, b1, w2, b2] = raw;
const linear = (x: tf.Tensor2D, w: tf.Tensor, b: tf.Tensor) =>
  tf.add(tf.matMul(x, w as tf.Tensor2D, false, true), b) as tf.Tensor2D;
const layerNorm = (x: tf.Tensor2D) => {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))) as tf.Tensor2D;
};
const x = tf.reshape(u0.values, [5, d]) as tf.Tensor2D; // [N, d]
const ln1 = layerNorm(x);
const qkv = linear(ln1, inW!, inB!); // [N, 3d]
const [q, k, v] = tf.split(qkv, 3, 1) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
const heads = [0, 1].map((h) => {
  const cols = (m: tf.Tensor2D) => tf.slice(m, [0, h * (d / 2)], [-1, d / 2]);
  const scores = tf.div(tf.matMul(cols(q), cols(k), false, true), Math.sqrt(d / 2)); // [N, N]
  const masked = tf.add(scores, tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([5, 5]), -1, 0)), -1e9));
  return tf.matMul(tf.softmax(masked), cols(v)); // [N, d/2]
});
const h1 = tf.add(x, linear(tf.concat(heads, 1) as tf.Tensor2D, outW!, outB!)) as tf.Tensor2D;
const hidden = linear(layerNorm(h1), w1!, b1!);
const gelu = tf.mul(tf.mul(hidden, 0.5), tf.add(1, tf.erf(tf.div(hidden, Math.SQRT2))));
const expected = tf.add(h1, linear(gelu as tf.Tensor2D, w2!, b2!)); // [N, d]
const gap = tf.max(tf.abs(tf.sub(tf.reshape(sol.u.values, [5, d]), expected))).dataSync()[0]!;
if (!(gap < 1e-4)) throw new Error(`Lie splitting with Δt = 1 should be the pre-LN layer: max|Δ| = ${gap}`);
console.log(`compose OK on ${engine.backend}: one Lie step = one pre-LN layer (max|Δ| ${gap.toExponential(1)})`);
