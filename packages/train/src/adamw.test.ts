// AdamW: its update equals the variable-by-variable formula bit for bit (decayed and undecayed variables, a
// missing gradient), leaves no tensors behind, and frees its moments on dispose; warmupCosine's shape.
import { describe, expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { describeEachBackend } from '@tide/backend/testing';
import { AdamW, warmupCosine, type AdamWOptions } from './adamw.js';

/** The update written variable by variable, on host copies (float32 rounding at every operation, as tfjs). */
function referenceSteps(
  init: Map<string, Float32Array>,
  grads: Map<string, Float32Array>[],
  decay: ReadonlySet<string>,
  o: Required<Omit<AdamWOptions, 'learningRate'>>,
  lrs: number[],
): Map<string, Float32Array> {
  const f = Math.fround;
  const p = new Map([...init].map(([k, x]) => [k, Float32Array.from(x)]));
  const m = new Map([...init].map(([k, x]) => [k, new Float32Array(x.length)]));
  const v = new Map([...init].map(([k, x]) => [k, new Float32Array(x.length)]));
  lrs.forEach((lr, s) => {
    const c1 = f(1 - o.beta1 ** (s + 1));
    const c2 = f(1 - o.beta2 ** (s + 1));
    for (const [k, g] of grads[s]!) {
      const [pk, mk, vk] = [p.get(k)!, m.get(k)!, v.get(k)!];
      for (let i = 0; i < pk.length; i++) {
        mk[i] = f(f(mk[i]! * f(o.beta1)) + f(g[i]! * f(1 - o.beta1)));
        vk[i] = f(f(vk[i]! * f(o.beta2)) + f(f(g[i]! * g[i]!) * f(1 - o.beta2)));
        const update = f(f(mk[i]! / c1) / f(f(Math.sqrt(f(vk[i]! / c2))) + f(o.epsilon)));
        const kept = decay.has(k) && o.weightDecay > 0 ? f(pk[i]! * f(1 - lr * o.weightDecay)) : pk[i]!;
        pk[i] = f(kept - f(update * f(lr)));
      }
    }
  });
  return p;
}

describeEachBackend('AdamW', () => {
  const shapes: Record<string, number[]> = { w: [3, 4], b: [4], gain: [4], frozen: [2] };
  const ramp = (n: number, a: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(a * (i + 1)));
  const options = { learningRate: 3e-3, beta1: 0.9, beta2: 0.95, epsilon: 1e-8, weightDecay: 0.1 };

  /** Groups of at most 4 values: b and gain (4 each, one group by default) cut apart, w (12) alone. */
  class SmallGroups extends AdamW {
    static override readonly GROUP = 4;
  }

  it.each([
    ['one group per decay setting', AdamW],
    ['groups of at most 4 values', SmallGroups],
  ])(
    'equals the variable-by-variable update bit for bit over several steps (decay only where asked): %s',
    (_, Optimizer) => {
      const init = new Map(
        Object.entries(shapes).map(([k, s], j) => [
          k,
          ramp(
            s.reduce((a, b) => a * b, 1),
            0.7 + j,
          ),
        ]),
      );
      const variables = new Map(
        [...init].map(([k, x]) => [k, tf.variable(tf.tensor(x, shapes[k]), true, `adamw-${k}`)]),
      );
      const decay = new Set(['w']);
      const opt = new Optimizer(variables, decay, options);
      const lrs = [1e-3, 3e-3, 2e-3];
      const grads: Map<string, Float32Array>[] = lrs.map((_, s) => {
        const g = new Map<string, Float32Array>();
        for (const k of ['w', 'b', 'gain']) g.set(k, ramp(init.get(k)!.length, 1.3 + s + k.length)); // frozen: no gradient
        return g;
      });
      lrs.forEach((lr, s) => {
        const gs = Object.fromEntries([...grads[s]!].map(([k, g]) => [k, tf.tensor(g, shapes[k])]));
        opt.apply(gs, lr);
        tf.dispose(Object.values(gs));
      });
      const expected = referenceSteps(init, grads, decay, options, lrs);
      for (const [k, x] of variables) expect(Array.from(x.dataSync()), k).toEqual(Array.from(expected.get(k)!));
      expect(Array.from(variables.get('frozen')!.dataSync())).toEqual(Array.from(init.get('frozen')!));
      expect(opt.step).toBe(3);
      opt.dispose();
      tf.dispose([...variables.values()]);
    },
  );

  it('leaves no tensors behind, and dispose frees its moments', () => {
    const variables = new Map([['w', tf.variable(tf.ones([5, 3]), true, 'adamw-leak')]]);
    const before = tf.memory().numTensors;
    const opt = new AdamW(variables, new Set(['w']), options);
    expect(tf.memory().numTensors).toBe(before + 2); // m and v
    const g = tf.fill([5, 3], 0.5);
    const during = tf.memory().numTensors;
    opt.apply({ w: g }, 1e-3);
    opt.apply({}, 1e-3); // no gradients: nothing to do
    expect(tf.memory().numTensors).toBe(during);
    opt.dispose();
    expect(tf.memory().numTensors).toBe(during - 2);
    tf.dispose([g, ...variables.values()]);
  });
});

describe('warmupCosine', () => {
  it('rises linearly over the warm-up, then decays by a cosine to the floor', () => {
    expect(warmupCosine(0, 1, 10, 100)).toBeCloseTo(0.1);
    expect(warmupCosine(9, 1, 10, 100)).toBeCloseTo(1);
    expect(warmupCosine(10, 1, 10, 100)).toBeCloseTo(1);
    expect(warmupCosine(55, 1, 10, 100)).toBeCloseTo(0.1 + 0.9 * 0.5);
    expect(warmupCosine(100, 1, 10, 100)).toBeCloseTo(0.1);
    expect(warmupCosine(500, 1, 10, 100)).toBeCloseTo(0.1);
  });
});
