// The score shift of the token quadrature: ln w per key (MASKED_SCORE where w = 0), per sample when the field
// has token weights, and the plain path's N×N bias with the causal sub-domain; no leaks; typed errors.
import { expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { describeEachBackend, expectNoLeaks } from '@tide/backend/testing';
import { ShapeError, field } from '@tide/domain';
import { MASKED_SCORE, quadratureLogWeights, quadratureScoreBias } from './quadrature-bias.js';

describeEachBackend('quadrature score shift', () => {
  const weights = [
    [0.5, 0.25, 0.25, 0],
    [0.125, 0.125, 0.5, 0.25],
  ];
  const make = () => field(tf.zeros([2, 4, 3]) as tf.Tensor3D, { tokenWeights: weights });

  it('quadratureLogWeights: ln w per sample, MASKED_SCORE for weight-0 (padding) tokens', () => {
    const u = make();
    const lw = quadratureLogWeights(u);
    expect(lw.shape).toEqual([2, 4]);
    const got = lw.arraySync();
    weights.forEach((row, b) =>
      row.forEach((w, l) => {
        if (w === 0)
          expect(got[b]![l]).toBe(Math.fround(MASKED_SCORE)); // stored in float32
        else expect(got[b]![l]).toBeCloseTo(Math.log(w), 6);
      }),
    );
    tf.dispose([lw]);
    u.dispose();
  });

  it('quadratureScoreBias: ln w on every row, plus MASKED_SCORE above the diagonal when causal', () => {
    const u = make();
    const open = quadratureScoreBias(u, false);
    const causal = quadratureScoreBias(u, true);
    expect(open.shape).toEqual([2, 1, 1, 4]);
    expect(causal.shape).toEqual([2, 1, 4, 4]);
    const c = causal.arraySync();
    for (let b = 0; b < 2; b++) {
      for (let k = 0; k < 4; k++) {
        for (let l = 0; l < 4; l++) {
          const w = weights[b]![l]!;
          if (l > k) expect(c[b]![0]![k]![l]).toBeLessThanOrEqual(Math.fround(MASKED_SCORE));
          else if (w === 0) expect(c[b]![0]![k]![l]).toBe(Math.fround(MASKED_SCORE));
          else expect(c[b]![0]![k]![l]).toBeCloseTo(Math.log(w), 5);
        }
      }
    }
    tf.dispose([open, causal]);
    u.dispose();
  });

  it('leaves only its result', async () => {
    const u = make();
    await expectNoLeaks(() => quadratureLogWeights(u));
    await expectNoLeaks(() => quadratureScoreBias(u, true));
    u.dispose();
  });

  it('refuses what is not a field, and a causal flag that is not a boolean', () => {
    const bare = tf.zeros([1, 2, 2]);
    expect(() => quadratureLogWeights(bare as never)).toThrow(ShapeError);
    bare.dispose();
    expect(() => quadratureLogWeights(null as never)).toThrow(/quadratureLogWeights: u: expected a Field/);
    const u = make();
    expect(() => quadratureScoreBias(u, 'yes' as never)).toThrow(/quadratureScoreBias: causal: expected a boolean/);
    u.dispose();
  });
});
