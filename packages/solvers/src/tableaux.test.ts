// The embedded pairs' tableaux: consistency and the order conditions of rooted trees (Butcher), in float64.
import { describe, expect, it } from 'vitest';
import { BOGACKI_SHAMPINE_32, DORMAND_PRINCE_54, type EmbeddedTableau } from './tableaux.js';

/** A rooted tree as the sorted list of its subtrees (a leaf is []). */
type Tree = Tree[];

const key = (t: Tree): string => `[${t.map(key).join(',')}]`;
const size = (t: Tree): number => 1 + t.reduce((s, c) => s + size(c), 0);
/** γ(τ) = |τ| · Π γ(children). */
const density = (t: Tree): number => size(t) * t.reduce((p, c) => p * density(c), 1);

/** Every rooted tree with n vertices, once each (children as multisets). */
function treesOfOrder(n: number, memo = new Map<number, Tree[]>()): Tree[] {
  if (memo.has(n)) return memo.get(n)!;
  // Forests of total size n − 1, children taken in a canonical (non-increasing key) order.
  const all: Tree[] = [];
  const smaller = Array.from({ length: n }, (_, m) => (m === 0 ? [] : treesOfOrder(m, memo)));
  const ordered = smaller.flat().sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  const build = (remaining: number, from: number, children: Tree[]) => {
    if (remaining === 0) {
      all.push([...children]);
      return;
    }
    for (let i = from; i < ordered.length; i++) {
      const c = ordered[i]!;
      if (size(c) <= remaining) build(remaining - size(c), i, [...children, c]);
    }
  };
  build(n - 1, 0, []);
  memo.set(n, all);
  return all;
}

/** The stage vector Φ_i(τ): 1 for a leaf, Π over children of (A Φ(child))_i. */
function stageWeights(t: Tree, a: readonly (readonly number[])[]): number[] {
  const s = a.length;
  return Array.from({ length: s }, (_, i) =>
    t.reduce((p, child) => {
      const g = stageWeights(child, a);
      return p * a[i]!.reduce((sum, aij, j) => sum + aij * g[j]!, 0);
    }, 1),
  );
}

/** max over trees of order ≤ p of |b·Φ(τ) − 1/γ(τ)|. */
function orderDefect(weights: readonly number[], a: EmbeddedTableau['a'], p: number): number {
  let worst = 0;
  for (let n = 1; n <= p; n++) {
    for (const t of treesOfOrder(n)) {
      const phi = stageWeights(t, a);
      const lhs = weights.reduce((s, w, i) => s + w * phi[i]!, 0);
      worst = Math.max(worst, Math.abs(lhs - 1 / density(t)));
    }
  }
  return worst;
}

describe('embedded Runge–Kutta tableaux', () => {
  it('enumerates 1, 1, 2, 4, 9, 20 rooted trees of orders 1–6', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => treesOfOrder(n).length)).toEqual([1, 1, 2, 4, 9, 20]);
  });

  it.each([BOGACKI_SHAMPINE_32, DORMAND_PRINCE_54])('$name: Σb = Σb̂ = 1, c_i = Σ_j a_ij, FSAL rows', (t) => {
    const s = t.b.length;
    expect(t.bHat).toHaveLength(s);
    expect(t.c).toHaveLength(s);
    expect(t.a).toHaveLength(s);
    t.a.forEach((row, i) => expect(row.length, `row ${i} is strictly lower triangular`).toBe(i));
    expect(Math.abs(t.b.reduce((x, y) => x + y, 0) - 1)).toBeLessThan(1e-15);
    expect(Math.abs(t.bHat.reduce((x, y) => x + y, 0) - 1)).toBeLessThan(1e-15);
    t.a.forEach((row, i) => expect(Math.abs(row.reduce((x, y) => x + y, 0) - t.c[i]!), `c_${i}`).toBeLessThan(1e-14));
    expect(t.fsal).toBe(true);
    expect(t.a[s - 1]).toEqual(t.b.slice(0, s - 1));
    expect(t.b[s - 1]).toBe(0);
    expect(t.c[s - 1]).toBe(1);
  });

  it.each([BOGACKI_SHAMPINE_32, DORMAND_PRINCE_54])(
    '$name: b satisfies the order conditions up to its order, b̂ up to its order and not one beyond',
    (t) => {
      expect(orderDefect(t.b, t.a, t.order)).toBeLessThan(1e-14);
      expect(orderDefect(t.bHat, t.a, t.embeddedOrder)).toBeLessThan(1e-14);
      // Otherwise b − b̂ would estimate nothing at order p.
      expect(orderDefect(t.bHat, t.a, t.order)).toBeGreaterThan(1e-4);
      // b is exactly of order p (DP5's b fails some order-6 condition, BS3's some order-4 one).
      expect(orderDefect(t.b, t.a, t.order + 1)).toBeGreaterThan(1e-6);
      expect(t.embeddedOrder).toBe(t.order - 1);
    },
  );
});
