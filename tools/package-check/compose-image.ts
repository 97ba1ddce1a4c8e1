// A user composes an image model from the operator packages alone (installed from their tarballs, no
// @tide/vision): a strided convolutional lift of a picture onto a token grid of Ω_x = [0, 1]², a LayerNorm
// projection, attention whose keys and values live on a grid twice as coarse (depthwise convolution + BatchNorm
// maps), an FFN, pre-norm rates, RK4. Checks: with identity maps the attention equals plain integral attention;
// with the strided maps every kernel row sums to 1 over the 4× smaller key grid.
import { IntegralAttention, MappedAttention, mappedAttentionWeights } from '@tide/attention';
import { field, imageLayoutOf, initEngine, tf } from '@tide/domain';
import { convolution, convolutionalMap, feedforwardRate, imageField } from '@tide/feedforward';
import { affineStep, layerNormConstraint, preNormRate } from '@tide/normalization';
import { mapSchedule, piecewiseConstant, rk4, solve } from '@tide/solvers';

const engine = await initEngine();
const d = 8;
let seed = 1;
const w = (shape: number[], std = 0.3) => tf.randomNormal(shape, 0, std, 'float32', seed++);
const image = imageField(w([2, 3, 16, 16], 1) as tf.Tensor4D); // [2, 256, 3] on the pixel grid
const lifted = convolution(image, w([d, 3, 4, 4]) as tf.Tensor4D, w([d]) as tf.Tensor1D, { stride: 4, padding: 0 }); // 4 × 4 tokens
const norm = layerNormConstraint({ epsilon: 1e-5 });
const u0 = field(norm.project(lifted, 0).values, { tokenGrid: lifted.tokenGrid });
const params = { wq: w([d, d]), wk: w([d, d]), wv: w([d, d]), wo: w([d, d]) } as {
  wq: tf.Tensor2D;
  wk: tf.Tensor2D;
  wv: tf.Tensor2D;
  wo: tf.Tensor2D;
};
const identityNorm = {
  mean: tf.zeros([d]) as tf.Tensor1D,
  variance: tf.fill([d], 1 - 1e-5) as tf.Tensor1D,
  weight: tf.ones([d]) as tf.Tensor1D,
  bias: tf.zeros([d]) as tf.Tensor1D,
  epsilon: 1e-5,
};
const identity = convolutionalMap(
  { weight: tf.ones([d, 1, 1, 1]) as tf.Tensor4D, norm: identityNorm },
  { stride: 1, padding: 0 },
);
const mapped = new MappedAttention(params, { query: identity, key: identity, value: identity }, { heads: 2 }).evaluate(
  u0,
  0,
);
const plain = new IntegralAttention(params, { heads: 2 }).evaluate(u0, 0);
const gap = tf.max(tf.abs(tf.sub(mapped.values, plain.values))).dataSync()[0]!;
if (!(gap < 1e-5)) throw new Error(`identity maps should give integral attention: off by ${gap}`);

const coarse = convolutionalMap(
  { weight: w([d, 1, 3, 3]) as tf.Tensor4D, norm: identityNorm },
  { stride: 2, padding: 1 },
);
const alpha = mappedAttentionWeights(u0, params, { key: coarse, value: coarse }, { heads: 2 }); // [2, 2, 16, 4]
const rows = tf.sum(alpha, -1).dataSync();
if (alpha.shape[3] !== 4 || !rows.every((s) => Math.abs(s - 1) < 1e-5))
  throw new Error(`kernel rows over the 2 × 2 key grid should sum to 1: ${alpha.shape}, ${rows.slice(0, 4)}`);

const affine = affineStep(tf.ones([d]) as tf.Tensor1D, tf.zeros([d]) as tf.Tensor1D);
const ffn = { w1: w([d, 2 * d]), b1: tf.zeros([2 * d]), w2: w([2 * d, d]), b2: tf.zeros([d]) } as {
  w1: tf.Tensor2D;
  b1: tf.Tensor1D;
  w2: tf.Tensor2D;
  b2: tf.Tensor1D;
};
const layer = {
  attention: preNormRate(norm, affine, new MappedAttention(params, { key: coarse, value: coarse }, { heads: 2 })),
  feedforward: preNormRate(norm, affine, feedforwardRate(ffn, 'gelu-erf')),
};
const theta = piecewiseConstant([layer, layer]);
const scheme = rk4([mapSchedule(theta, (l) => l.attention), mapSchedule(theta, (l) => l.feedforward)]);
const solution = solve(u0, scheme, { t1: 2, step: { stepsPerUnit: 2 } });
const grid = imageLayoutOf(solution.u.tokenGrid, 'u(T)');
console.log(
  `composed image model on ${engine.backend}: u(T) [${solution.u.values.shape}] on a ${grid.rows} × ${grid.cols} grid, keys on 2 × 2, identity maps off by ${gap.toExponential(1)}`,
);
