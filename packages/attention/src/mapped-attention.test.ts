// Attention with its own query/key/value maps: keys on a coarser grid of the same domain (a float64 reference
// with the coarse grid's weights), identity maps equal plain integral attention, gradients against finite
// differences, typed errors, no leaks.
import { expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { describeEachBackend, expectClose, expectNoLeaks } from '@tide/backend/testing';
import { DomainError, ShapeError, field, interval, midpointRule, type Field, type TokenMap } from '@tide/domain';
import { integralAttention } from './integral-attention.js';
import { MappedAttention, mappedAttention, mappedAttentionWeights } from './mapped-attention.js';
import {
  randomMatrix,
  randomReferenceParams,
  referenceAttention,
  seeded,
  toParams,
  type Matrix,
} from './reference.fixture.js';

const D = 6;
const H = 2;
const N = 8;
const ref = randomReferenceParams(D, seeded(7));

/** Every other token, on the coarser midpoint grid of [0, 1] (weights 2/N): a restriction as a token map. */
const coarseKeys: TokenMap = (u: Field) =>
  field(
    tf.gather(
      u.values,
      Array.from({ length: N / 2 }, (_, l) => 2 * l + 1),
      1,
    ) as tf.Tensor3D,
    {
      tokenGrid: midpointRule(interval(0, 1), N / 2),
    },
  );
const doubled: TokenMap = (u: Field) => u.withValues(tf.mul(u.values, 2) as tf.Tensor3D);

function input(seed: number): { u: Field; x: Matrix[] } {
  const gen = seeded(seed);
  const x = [randomMatrix(N, D, gen), randomMatrix(N, D, gen)];
  return { u: field(tf.tensor3d(x), { tokenGrid: midpointRule(interval(0, 1), N) }), x };
}

describeEachBackend('mapped attention', () => {
  it('keys and values on a coarser grid agree with the float64 reference over the coarse quadrature', () => {
    const { u, x } = input(3);
    const params = toParams(ref);
    const out = mappedAttention(u, params, { query: doubled, key: coarseKeys, value: coarseKeys }, { heads: H });
    const expected = x.map(
      (xb) =>
        referenceAttention(
          xb.map((r) => r.map((v) => 2 * v)),
          xb.filter((_, l) => l % 2 === 1),
          new Array<number>(N / 2).fill(2 / N),
          ref,
          H,
        ).out,
    );
    expectClose(out.values, expected, { rtol: 1e-4, atol: 1e-5 }, 'A[u]');
    expect(out.tokenGrid).toBe(u.tokenGrid);
    const alpha = mappedAttentionWeights(u, params, { key: coarseKeys, value: coarseKeys }, { heads: H });
    expect(alpha.shape).toEqual([2, H, N, N / 2]);
    expectClose(tf.sum(alpha, -1), tf.onesLike(tf.sum(alpha, -1)), { atol: 1e-5 }, 'rows of α');
    tf.dispose([out.values, alpha, u.values, ...Object.values(params)]);
  });

  it('with identity maps it is integral attention, and as a vector field it evaluates the same', () => {
    const { u } = input(5);
    const params = toParams(ref);
    const a = mappedAttention(u, params, {}, { heads: H });
    const b = integralAttention(u, params, { heads: H });
    const c = new MappedAttention(params, { key: (v) => v }, { heads: H }).evaluate(u, 0);
    expectClose(a.values, b.values, { rtol: 1e-5, atol: 1e-6 });
    expectClose(c.values, b.values, { rtol: 1e-5, atol: 1e-6 });
    tf.dispose([a.values, b.values, c.values, u.values, ...Object.values(params)]);
  });

  it('leaves exactly its output behind', async () => {
    const { u } = input(9);
    const params = toParams(ref);
    await expectNoLeaks(() => {
      const out = mappedAttention(u, params, { key: coarseKeys, value: coarseKeys }, { heads: H });
      return [out.values];
    });
    await expectNoLeaks(() => [
      mappedAttentionWeights(u, params, { key: coarseKeys, value: coarseKeys }, { heads: H }),
    ]);
    tf.dispose([u.values, ...Object.values(params)]);
  });

  it('refuses bad maps and causal attention with a typed error', () => {
    const { u } = input(2);
    const params = toParams(ref);
    const bad: [unknown, unknown][] = [
      [null, ShapeError],
      [{ key: 3 }, ShapeError],
      [{ query: coarseKeys }, ShapeError], // the query map must keep u's grid
      [{ key: coarseKeys }, ShapeError], // keys and values on different grids
      [{ key: () => 'x' }, ShapeError],
    ];
    const before = tf.memory().numTensors;
    for (const [maps, type] of bad)
      expect(() => mappedAttention(u, params, maps as never, { heads: H })).toThrow(type as typeof ShapeError);
    expect(() => mappedAttention(u, params, {}, { heads: H, causal: true })).toThrow(DomainError);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([u.values, ...Object.values(params)]);
  });
});

it('gradients with respect to the field and the kernels match central finite differences (cpu, float32)', async () => {
  await tf.setBackend('cpu');
  const { u } = input(4);
  const params = toParams(ref);
  const maps = { query: doubled, key: coarseKeys, value: coarseKeys };
  const c = tf.randomNormal([2, N, D], 0, 1, 'float32', 3);
  const loss = (x: tf.Tensor, wq: tf.Tensor, wk: tf.Tensor, wv: tf.Tensor) =>
    tf.sum(
      tf.mul(
        mappedAttention(
          u.withValues(x as tf.Tensor3D),
          { ...params, wq: wq as tf.Tensor2D, wk: wk as tf.Tensor2D, wv: wv as tf.Tensor2D },
          maps,
          { heads: H },
        ).values,
        c,
      ),
    ) as tf.Scalar;
  const args = [u.values, params.wq, params.wk, params.wv];
  const grads = tf.grads(loss)(args);
  const eps = 1e-2;
  args.forEach((a, i) => {
    const dir = tf.randomNormal(a.shape, 0, 1, 'float32', 10 + i);
    const at = (h: number) =>
      tf.tidy(
        () =>
          loss(
            ...(args.map((b, j) => (j === i ? tf.add(b, tf.mul(dir, h)) : b)) as [
              tf.Tensor,
              tf.Tensor,
              tf.Tensor,
              tf.Tensor,
            ]),
          ).dataSync()[0]!,
      );
    const fd = (at(eps) - at(-eps)) / (2 * eps);
    const analytic = tf.tidy(() => tf.sum(tf.mul(grads[i]!, dir)).dataSync()[0]!);
    expect(Math.abs(analytic - fd), `argument ${i}: ${analytic} vs ${fd}`).toBeLessThan(
      1e-2 * Math.max(1, Math.abs(fd)),
    );
    dir.dispose();
  });
  tf.dispose([...grads, c, u.values, ...Object.values(params)]);
});
