// Incremental causal attention through a key/value cache (docs/integral-attention.md, "Incremental causal
// solves"): appending tokens one at a time or in chunks gives the rows of the full causal attention of the
// whole sequence, slot by slot in a composed solve; one query row per new token; no leaks; misuse is refused
// with typed errors.
import { expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { describeEachBackend, expectClose, expectNoLeaks, expectTensorCount, thrownBy } from '@tide/backend/testing';
import { DomainError, ShapeError, field, gaussLegendreRule, interval, type Field } from '@tide/domain';
import { IntegralAttention, incrementalAttention, integralAttention } from './integral-attention.js';
import { KeyValueCache, keyValueCacheBytes } from './key-value-cache.js';
import type { AttentionParameters } from './parameters.js';
import { randomMatrix, randomReferenceParams, referenceAttention, seeded, toParams } from './reference.fixture.js';

const D = 6;
const B = 2;
const N = 10;

/** `[B, N, D]` random token states. */
function tokens(seed: number, n = N, b = B): number[][][] {
  const gen = seeded(seed);
  return Array.from({ length: b }, () => randomMatrix(n, D, gen));
}

/** The tokens `from … to − 1` of every sample as a field on the cache's continued grid. */
function chunk(x: number[][][], from: number, to: number, cache: KeyValueCache): Field {
  return field(tf.tensor3d(x.map((s) => s.slice(from, to))), { tokenGrid: cache.nextTokenGrid(to - from) });
}

function disposeParams(p: AttentionParameters): void {
  tf.dispose(Object.values(p) as tf.Tensor[]);
}

/** The chunk sizes of a sequence of N tokens. */
const SPLITS: Record<string, number[]> = {
  'one token at a time': Array.from({ length: N }, () => 1),
  'chunks 3, 1, 4, 2': [3, 1, 4, 2],
  'a prompt of 6, then single tokens': [6, 1, 1, 1, 1],
};

describeEachBackend('incremental attention with a key/value cache', (backend) => {
  // On webgl the first chunk and the full attention take the fused path (1e-4 relative to the plain one).
  const tolerance = backend === 'webgl' ? { atol: 1e-4, rtol: 1e-4 } : { atol: 1e-5, rtol: 1e-5 };
  it.each(Object.entries(SPLITS))(
    '%s: equals the full causal attention of the whole sequence (3 heads, batch 2)',
    (_name, sizes) => {
      const ref = randomReferenceParams(D, seeded(11));
      const params = toParams(ref);
      const x = tokens(3);
      const full = field(tf.tensor3d(x));
      const expected = integralAttention(full, params, { heads: 3, causal: true }); // [B, N, D]
      const cache = new KeyValueCache();
      const attention = new IntegralAttention(params, { heads: 3, causal: true, cache });
      const rows: tf.Tensor3D[] = [];
      let at = 0;
      for (const n of sizes) {
        const u = chunk(x, at, at + n, cache);
        rows.push(cache.pass(() => attention.evaluate(u, 0)).values);
        u.dispose();
        at += n;
        expect(cache.tokens).toBe(at);
      }
      const joined = tf.concat(rows, 1);
      expectClose(joined, expected.values, tolerance, 'incremental vs full');
      // And against the float64 reference written from the formula.
      const reference = x.map(
        (xb) =>
          referenceAttention(xb, xb, new Array<number>(N).fill(1), ref, 3, {
            allowed: (k: number, l: number) => l <= k,
          }).out,
      );
      expectClose(joined, reference, { atol: 2e-5, rtol: 1e-4 }, 'incremental vs float64 reference');
      expect(cache.bytes).toBe(
        keyValueCacheBytes({ slots: 1, batch: B, heads: 3, keyWidth: 2, valueWidth: 2, tokens: N }),
      );
      tf.dispose([...rows, joined, expected.values, full.values]);
      cache.dispose();
      expect(cache.bytes).toBe(0);
      disposeParams(params);
    },
  );

  it('a composed causal solve, one slot per evaluation: x₁ = x + A₁(x), x₂ = x₁ + A₂(x₁), x₃ = x₂ + A₁(x₂)', () => {
    const p1 = toParams(randomReferenceParams(D, seeded(21)));
    const p2 = toParams(randomReferenceParams(D, seeded(22)));
    const solve = (u: Field, a1: IntegralAttention, a2: IntegralAttention): tf.Tensor3D =>
      tf.tidy(() => {
        const step = (v: Field, a: IntegralAttention) => v.withValues(tf.add(v.values, a.evaluate(v, 0).values));
        return step(step(step(u, a1), a2), a1).values;
      });
    const x = tokens(5);
    const full = field(tf.tensor3d(x));
    const expected = solve(
      full,
      new IntegralAttention(p1, { heads: 2, causal: true }),
      new IntegralAttention(p2, { heads: 3, causal: true }),
    );
    const cache = new KeyValueCache({ label: 'solve cache' });
    const a1 = new IntegralAttention(p1, { heads: 2, causal: true, cache });
    const a2 = new IntegralAttention(p2, { heads: 3, causal: true, cache });
    const rows: tf.Tensor3D[] = [];
    for (const [from, to] of [
      [0, 4],
      [4, 5],
      [5, 8],
      [8, 9],
      [9, 10],
    ] as const) {
      const u = chunk(x, from, to, cache);
      rows.push(cache.pass(() => solve(u, a1, a2)));
      expect(cache.slots).toBe(3); // three evaluations per solve: A₁, A₂, A₁ again in its own slot
      u.dispose();
    }
    const joined = tf.concat(rows, 1);
    expectClose(joined, expected, tolerance, 'composed solve');
    expect(cache.statistics).toEqual({ passes: 5, evaluations: 15, queries: 3 * N, keys: 3 * (4 + 5 + 8 + 9 + 10) });
    tf.dispose([...rows, joined, expected, full.values]);
    cache.dispose();
    disposeParams(p1);
    disposeParams(p2);
  });

  it('the first chunk may take the blocked path; later chunks attend to the cache', () => {
    const params = toParams(randomReferenceParams(D, seeded(31)));
    const x = tokens(7);
    const full = field(tf.tensor3d(x));
    const expected = integralAttention(full, params, { heads: 2, causal: true, implementation: 'plain' });
    const cache = new KeyValueCache();
    const rows: tf.Tensor3D[] = [];
    for (const [from, to] of [
      [0, 7],
      [7, 10],
    ] as const) {
      const u = chunk(x, from, to, cache);
      rows.push(
        cache.pass(() =>
          incrementalAttention(u, params, cache, { heads: 2, causal: true, implementation: 'blocked', block: 3 }),
        ).values,
      );
      u.dispose();
    }
    const joined = tf.concat(rows, 1);
    expectClose(joined, expected.values, { atol: 1e-5, rtol: 1e-4 }, 'blocked first chunk');
    tf.dispose([...rows, joined, expected.values, full.values]);
    cache.dispose();
    disposeParams(params);
  });

  it('evaluates one query row per new token: statistics and the shapes of the softmax kernels', async () => {
    const params = toParams(randomReferenceParams(D, seeded(41)));
    const x = tokens(9);
    const cache = new KeyValueCache();
    const attention = new IntegralAttention(params, { heads: 2, causal: true, cache });
    const prompt = chunk(x, 0, 6, cache);
    tf.dispose(cache.pass(() => attention.evaluate(prompt, 0)).values);
    prompt.dispose();
    for (let at = 6; at < N; at++) {
      const u = chunk(x, at, at + 1, cache);
      cache.resetStatistics();
      const profile = await tf.profile(() => cache.pass(() => attention.evaluate(u, 0)).values);
      expect(cache.statistics).toEqual({ passes: 1, evaluations: 1, queries: 1, keys: at + 1 });
      const softmax = profile.kernels.filter((k) => k.name === 'Softmax');
      expect(softmax).toHaveLength(1);
      expect(softmax[0]!.outputShapes).toEqual([[B, 2, 1, at + 1]]); // one query row against N_past + 1 keys
      const products = profile.kernels.filter((k) => k.name === 'BatchMatMul').map((k) => k.outputShapes[0]);
      expect(products.every((shape) => shape![shape!.length - 2]! <= B)).toBe(true); // ≤ B·1 rows per product
      tf.dispose(profile.result as tf.Tensor);
      u.dispose();
    }
    cache.dispose();
    disposeParams(params);
  });

  it('leaves no tensors behind: the cache owns its keys and values until dispose; rollback frees a pass', async () => {
    const params = toParams(randomReferenceParams(D, seeded(51)));
    const x = tokens(13);
    await expectNoLeaks(async () => {
      const cache = new KeyValueCache();
      const attention = new IntegralAttention(params, { heads: 2, causal: true, cache });
      for (let at = 0; at < 4; at++) {
        const u = chunk(x, at, at + 1, cache);
        // One result survives the pass; the cache's keys and values replace the previous ones (2 per slot).
        const out = await expectTensorCount(() => cache.pass(() => attention.evaluate(u, 0)), at === 0 ? 3 : 1);
        tf.dispose([out.values, u.values]);
      }
      // A failing pass leaves the cache as it was.
      const u = chunk(x, 4, 5, cache);
      await expectTensorCount(() => {
        expect(() =>
          cache.pass(() => {
            attention.evaluate(u, 0).dispose();
            throw new Error('boom');
          }),
        ).toThrow('boom');
      }, 0);
      expect(cache.tokens).toBe(4);
      expect(cache.inPass).toBe(false);
      u.dispose();
      cache.dispose();
      cache.dispose(); // idempotent
    }, 'incremental attention');
    disposeParams(params);
  });
});

describeEachBackend('key/value cache: misuse is refused with typed errors', () => {
  const params = () => toParams(randomReferenceParams(D, seeded(61)));

  it('a non-causal operator, with the reason', () => {
    const p = params();
    const cache = new KeyValueCache();
    const e = thrownBy(() => new IntegralAttention(p, { heads: 2, cache }));
    expect(e).toBeInstanceOf(DomainError);
    expect(e.message).toMatch(/expected a causal attention operator/);
    expect(e.message).toMatch(/the integral of every earlier token runs over the new tokens/);
    const u = chunk(tokens(1), 0, 2, cache);
    cache.reset();
    expect(() => incrementalAttention(u, p, cache, { heads: 2, causal: false })).toThrow(DomainError);
    cache.rollback();
    u.dispose();
    cache.dispose();
    disposeParams(p);
  });

  it('a batch or head count other than the cached one', () => {
    const p = params();
    const cache = new KeyValueCache();
    const x = tokens(2, 4, 3);
    const first = chunk(x, 0, 2, cache);
    tf.dispose(cache.pass(() => incrementalAttention(first, p, cache, { heads: 2, causal: true })).values);
    const narrow = field(tf.tensor3d(x.slice(0, 2).map((s) => s.slice(2, 3))), { tokenGrid: cache.nextTokenGrid(1) });
    const batch = thrownBy(() => cache.pass(() => incrementalAttention(narrow, p, cache, { heads: 2, causal: true })));
    expect(batch).toBeInstanceOf(ShapeError);
    expect(batch.message).toMatch(/expected the cached batch size 3, received a field of batch 2/);
    const next = chunk(x, 2, 3, cache);
    const heads = thrownBy(() => cache.pass(() => incrementalAttention(next, p, cache, { heads: 3, causal: true })));
    expect(heads).toBeInstanceOf(ShapeError);
    expect(heads.message).toMatch(/2 head\(s\) of key width 3 .*received 3 head\(s\) of key width 2/);
    expect(cache.tokens).toBe(2); // both passes rolled back
    tf.dispose([first.values, narrow.values, next.values]);
    cache.dispose();
    disposeParams(p);
  });

  it('padding weights, weighted grids and grids that do not continue the cached tokens', () => {
    const p = params();
    const cache = new KeyValueCache();
    const x = tokens(3, 4, 2);
    const opts = { heads: 2, causal: true } as const;
    const padded = field(tf.tensor3d(x), {
      tokenWeights: [
        [1, 1, 1, 0],
        [1, 1, 1, 1],
      ],
    });
    const e = thrownBy(() => cache.pass(() => incrementalAttention(padded, p, cache, opts)));
    expect(e).toBeInstanceOf(DomainError);
    expect(e.message).toMatch(/per-sample token weights/);
    const gauss = field(tf.tensor3d(x), { tokenGrid: gaussLegendreRule(interval(0, 4), 4) });
    expect(() => cache.pass(() => incrementalAttention(gauss, p, cache, opts))).toThrow(
      /token grid: expected the standard/,
    );
    const first = chunk(x, 0, 2, cache);
    tf.dispose(cache.pass(() => incrementalAttention(first, p, cache, opts)).values);
    const restarted = field(tf.tensor3d(x.map((s) => s.slice(2, 3)))); // positions 0.5…: not after the 2 cached tokens
    const g = thrownBy(() => cache.pass(() => incrementalAttention(restarted, p, cache, opts)));
    expect(g).toBeInstanceOf(DomainError);
    expect(g.message).toMatch(/continued after the 2 cached token\(s\).*received point 0.5 at token 0/);
    tf.dispose([padded.values, gauss.values, first.values, restarted.values]);
    cache.dispose();
    disposeParams(p);
  });

  it('use outside a pass, another number of slots, another signature, a disposed cache, evaluateAt', () => {
    const p = params();
    const cache = new KeyValueCache();
    const a = new IntegralAttention(p, { heads: 2, causal: true, cache });
    const x = tokens(4, 3, 1);
    const u = chunk(x, 0, 1, cache);
    expect(() => a.evaluate(u, 0)).toThrow(/an attention evaluation outside a pass/);
    expect(() => a.evaluateAt(u, u)).toThrow(ShapeError);
    cache.pass(() => {
      tf.dispose([a.evaluate(u, 0).values]);
      tf.dispose([a.evaluate(u, 0).values]); // two slots on the first pass
    }, 'two evaluations');
    const v = chunk(x, 1, 2, cache);
    const missing = thrownBy(() => cache.pass(() => a.evaluate(v, 0).dispose(), 'two evaluations'));
    expect(missing).toBeInstanceOf(ShapeError);
    expect(missing.message).toMatch(
      /expected a pass that evaluates every slot once \(2 attention evaluations\), received 1 of 2/,
    );
    const extra = thrownBy(() =>
      cache.pass(() => [0, 1, 2].forEach(() => a.evaluate(v, 0).dispose()), 'two evaluations'),
    );
    expect(extra.message).toMatch(/at most 2 attention evaluations per solve/);
    expect(() => cache.reset('another model')).toThrow(
      /expected a solve of what the cache was filled by \(two evaluations\)/,
    );
    expect(() => cache.commit()).toThrow(/expected an open pass/);
    expect(cache.tokens).toBe(1);
    cache.clear();
    expect([cache.tokens, cache.slots, cache.bytes]).toEqual([0, 0, 0]);
    cache.dispose();
    expect(() => cache.reset()).toThrow(/expected a live cache, received a disposed one/);
    tf.dispose([u.values, v.values]);
    disposeParams(p);
  });
});
