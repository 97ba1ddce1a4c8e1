// The class-token-aware dw_bn map: the class token passes unconvolved, the patches are convolved on their grid,
// the result lives on the coarser grid with a class point; it leaves only its output.
import { expect, it } from 'vitest';
import { initEngine, tf } from '@tide/backend';
import { expectClose, expectNoLeaks } from '@tide/backend/testing';
import { field, imageTokenGrid } from '@tide/domain';
import { convolutionalMap } from '@tide/feedforward';
import { BATCH_NORM_EPSILON, classTokenAwareMap } from './layer-rates.js';

it('lets the class token through and convolves the patches onto the strided grid', async () => {
  await initEngine({ backend: 'cpu' });
  const c = 4;
  const p = {
    weight: tf.randomNormal([c, 1, 3, 3], 0, 0.5, 'float32', 1) as tf.Tensor4D,
    gamma: tf.randomNormal([c], 1, 0.1, 'float32', 2) as tf.Tensor1D,
    beta: tf.randomNormal([c], 0, 0.1, 'float32', 3) as tf.Tensor1D,
    mean: tf.randomNormal([c], 0, 0.1, 'float32', 4) as tf.Tensor1D,
    variance: tf.randomUniform([c], 0.5, 1.5, 'float32', 5) as tf.Tensor1D,
  };
  const values = tf.randomNormal([2, 1 + 16, c], 0, 1, 'float32', 6) as tf.Tensor3D;
  const u = field(values, { tokenGrid: imageTokenGrid(4, 4, { classToken: true }) });
  const map = classTokenAwareMap(p, { stride: 2, padding: 1 }, 'key map');
  const out = map(u);
  expect(out.values.shape).toEqual([2, 1 + 4, c]);
  expect(out.tokenGrid.layout).toEqual({ rows: 2, cols: 2, leading: 1 });
  expectClose(tf.slice(out.values, [0, 0, 0], [2, 1, c]), tf.slice(values, [0, 0, 0], [2, 1, c]));
  const plain = convolutionalMap(
    {
      weight: p.weight,
      norm: { mean: p.mean, variance: p.variance, weight: p.gamma, bias: p.beta, epsilon: BATCH_NORM_EPSILON },
    },
    { stride: 2, padding: 1 },
  )(field(tf.slice(values, [0, 1, 0], [2, 16, c]) as tf.Tensor3D, { tokenGrid: imageTokenGrid(4, 4) }));
  expectClose(tf.slice(out.values, [0, 1, 0], [2, 4, c]), plain.values, { rtol: 1e-6, atol: 1e-6 });
  await expectNoLeaks(() => [map(u).values]);
  tf.dispose([out.values, plain.values, values, ...Object.values(p)]);
});
