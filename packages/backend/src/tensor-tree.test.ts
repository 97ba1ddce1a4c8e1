// Parameter trees (docs/checkpoints.md): dotted paths in a stable order, undefined leaves skipped, arrays by
// index; unflattenTree inverts flattenTree; mapTree keeps every path and shape; zipTrees and unflattenTree name
// the first bad path; nothing leaks.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { tf } from './index.js';
import { TideError } from './errors.js';
import {
  disposeTree,
  flattenTree,
  mapTree,
  treeLeaves,
  TreeError,
  unflattenTree,
  zipTrees,
  type TreeLike,
} from './tensor-tree.js';
import { describeEachBackend, expectClose, expectNoLeaks, expectTensorCount } from './testing/index.js';

/** The paths of a tree, in order. */
const pathsOf = (tree: TreeLike | undefined) => treeLeaves(tree).map(([p]) => p);

/** The structure of a tree with every tensor replaced by its id (to compare structures exactly). */
function skeleton(tree: unknown): unknown {
  if (tree instanceof tf.Tensor) return `#${tree.id}`;
  if (Array.isArray(tree)) return tree.map(skeleton);
  if (typeof tree === 'object' && tree !== null)
    return Object.fromEntries(Object.entries(tree).map(([k, v]) => [k, skeleton(v)]));
  return tree;
}

/** A tree to build: a leaf of a shape, `undefined`, an array or an object of subtrees. */
type Spec = { leaf: number[] } | { absent: true } | Spec[] | { [key: string]: Spec };

/** Builds the tensors of a spec (values 0, 1, 2, … in each leaf). */
function build(spec: Spec): TreeLike | undefined {
  if (Array.isArray(spec)) return spec.map(build);
  if ('leaf' in spec && Array.isArray(spec.leaf)) {
    const shape = spec.leaf as number[];
    const size = shape.reduce((a, b) => a * b, 1);
    return tf.tensor(
      Array.from({ length: size }, (_, i) => i),
      shape,
    );
  }
  if ('absent' in spec && spec.absent === true) return undefined;
  return Object.fromEntries(Object.entries(spec as Record<string, Spec>).map(([k, v]) => [k, build(v)]));
}

// Object keys: never all digits (that is an array index) and never a dot (the path separator), nor "leaf" or
// "absent" (the spec's own markers).
const key = fc.stringMatching(/^[a-z][a-zA-Z0-9_]{0,4}$/).filter((k) => k !== 'leaf' && k !== 'absent');
const shape = fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 3 });

/** Nested specs of depth ≤ `depth`; with `holes`, some leaves are `undefined`. Arrays and objects are never empty. */
function specOf(depth: number, holes: boolean): fc.Arbitrary<Spec> {
  const leaf: fc.Arbitrary<Spec> = holes
    ? fc.oneof(
        { arbitrary: shape.map((s) => ({ leaf: s })), weight: 4 },
        { arbitrary: fc.constant({ absent: true as const }), weight: 1 },
      )
    : shape.map((s) => ({ leaf: s }));
  if (depth === 0) return leaf;
  const sub = specOf(depth - 1, holes);
  return fc.oneof(leaf, nodeOf(sub));
}

function nodeOf(sub: fc.Arbitrary<Spec>): fc.Arbitrary<Spec> {
  return fc.oneof(
    fc.array(sub, { minLength: 1, maxLength: 3 }),
    fc.dictionary(key, sub, { minKeys: 1, maxKeys: 3, noNullPrototype: true }),
  );
}

/** A root that is an array or an object (a bare tensor has the empty path). */
const rootSpec = (holes: boolean) => nodeOf(specOf(2, holes));
const runs = { seed: 42, numRuns: 60 };

describeEachBackend('parameter trees', () => {
  it('lists leaves with dotted paths: object keys in insertion order, arrays by index, undefined skipped', () => {
    const [a, b, c, d] = [tf.scalar(1), tf.zeros([2]), tf.ones([1, 2]), tf.zeros([3])];
    const tree = { z: a, layers: [b, undefined, { w: c, bias: undefined }], finalNorm: { gamma: d } };
    const leaves = treeLeaves(tree);
    expect(leaves.map(([p]) => p)).toEqual(['z', 'layers.0', 'layers.2.w', 'finalNorm.gamma']);
    leaves.forEach(([, t], i) => expect(t).toBe([a, b, c, d][i]));
    const map = flattenTree(tree);
    expect([...map.keys()]).toEqual(['z', 'layers.0', 'layers.2.w', 'finalNorm.gamma']);
    expect(map.get('layers.2.w')).toBe(c);
    tf.dispose([a, b, c, d]);
  });

  it('a bare tensor is one leaf at the empty path; undefined and empty containers have none', () => {
    const t = tf.zeros([2]);
    expect(treeLeaves(t)).toEqual([['', t]]);
    expect(treeLeaves(undefined)).toEqual([]);
    expect(treeLeaves({})).toEqual([]);
    expect(treeLeaves([])).toEqual([]);
    expect(treeLeaves({ a: undefined, b: [undefined] })).toEqual([]);
    t.dispose();
  });

  it('refuses leaves that are not tensors with a TreeError naming the path', () => {
    const t = tf.zeros([1]);
    const bad: [unknown, string, RegExp][] = [
      [{ a: { b: 3 } }, 'a.b', /received 3\./],
      [{ a: [t, 'w'] }, 'a.1', /received "w"\./],
      [{ a: null }, 'a', /received null\./],
      [{ a: true }, 'a', /received true\./],
      [{ a: () => t }, 'a', /received function\./],
      [7, '(root)', /received 7\./],
    ];
    for (const [tree, path, received] of bad) {
      for (const op of [
        () => treeLeaves(tree as TreeLike),
        () => flattenTree(tree as TreeLike),
        () => mapTree(tree as TreeLike, (x) => x),
        () => disposeTree(tree as TreeLike),
      ]) {
        let error: unknown;
        try {
          op();
        } catch (e) {
          error = e;
        }
        expect(error, `${path}`).toBeInstanceOf(TreeError);
        expect(error).toBeInstanceOf(TideError);
        expect((error as Error).message).toMatch(
          new RegExp(
            `^parameter tree at "${path.replace(/[.()]/g, '\\$&')}": expected a tensor, an array or an object of tensors, received`,
          ),
        );
        expect((error as Error).message).toMatch(received);
        expect((error as Error).message).toMatch(/Fix: build parameter trees from tensors only/);
      }
    }
    expect(t.isDisposed).toBe(false);
    t.dispose();
  });

  it('refuses a Map, a Set or a Date instead of reading it as an object without leaves', () => {
    // A Map of tensors (what flattenTree returns) passed where a tree is expected must not silently
    // count as an empty object: disposeTree(flattenTree(tree)) would then free nothing.
    const t = tf.zeros([2]);
    const before = tf.memory().numTensors;
    for (const bad of [new Map([['w', t]]), new Set([t]), new Date(0)]) {
      expect(() => treeLeaves({ layers: bad }), bad.constructor.name).toThrow(TreeError);
      expect(() => disposeTree(bad as never), bad.constructor.name).toThrow(TreeError);
    }
    expect(tf.memory().numTensors).toBe(before);
    t.dispose();
  });

  it('mapTree keeps the structure (arrays stay arrays, undefined stays) and passes each path', () => {
    const tree = {
      layers: [
        { w: tf.ones([2, 3]), b: undefined },
        { w: tf.ones([2, 3]), b: tf.zeros([3]) },
      ],
      head: tf.scalar(2),
    };
    const seen: string[] = [];
    const doubled = mapTree(tree, (t, path) => {
      seen.push(path);
      return tf.mul(t, 2);
    });
    expect(seen).toEqual(['layers.0.w', 'layers.1.w', 'layers.1.b', 'head']);
    expect(Array.isArray(doubled.layers)).toBe(true);
    expect('b' in doubled.layers[0]!).toBe(true);
    expect(doubled.layers[0]!.b).toBeUndefined();
    expectClose(doubled.layers[1]!.w, [
      [2, 2, 2],
      [2, 2, 2],
    ]);
    expectClose(doubled.head, 4);
    expect(doubled.head).not.toBe(tree.head);
    disposeTree(doubled);
    disposeTree(tree);
  });

  it('zipTrees combines leaf by leaf', () => {
    const a = { w: tf.tensor1d([1, 2]), layers: [tf.tensor2d([[1]]), undefined] };
    const b = { w: tf.tensor1d([10, 20]), layers: [tf.tensor2d([[5]]), undefined] };
    const paths: string[] = [];
    const sum = zipTrees(a, b, (x, y, path) => {
      paths.push(path);
      return tf.add(x, y);
    });
    expect(paths).toEqual(['w', 'layers.0']);
    expectClose(sum.w, [11, 22]);
    expectClose(sum.layers[0]!, [[6]]);
    expect(sum.layers).toHaveLength(2);
    tf.dispose([...treeLeaves(sum), ...treeLeaves(a), ...treeLeaves(b)].map(([, t]) => t));
  });

  it('zipTrees names the first differing path when the trees have different leaves', () => {
    const t = () => tf.zeros([2]);
    const a = { p: t(), q: { r: t(), s: t() } };
    const fewer = { p: t(), q: { r: t() } };
    const renamed = { p: t(), q: { r: t(), x: t() } };
    const add = (x: tf.Tensor, y: tf.Tensor) => tf.add(x, y);
    // a has a leaf that the other lacks.
    expect(() => zipTrees(a, fewer as typeof a, add)).toThrow(TreeError);
    expect(() => zipTrees(a, fewer as typeof a, add)).toThrow(
      /^zipTrees: expected two trees with the same paths, received 3 and 2 leaves \(first difference at "q\.s"\)/,
    );
    // The other has a leaf that a lacks.
    expect(() => zipTrees(fewer as typeof a, a, add)).toThrow(/received 2 and 3 leaves \(first difference at "q\.s"\)/);
    // Same number of leaves, different paths.
    expect(() => zipTrees(a, renamed as never, add)).toThrow(
      /^zipTrees at "q\.s": expected a tensor of shape \[2\], received undefined/,
    );
    disposeTree([a, fewer, renamed]);
  });

  it('zipTrees names the first path whose shapes differ, and restates both shapes', () => {
    const a = { layers: [{ w: tf.zeros([2, 3]) }, { w: tf.zeros([2, 3]) }] };
    const b = { layers: [{ w: tf.zeros([2, 3]) }, { w: tf.zeros([3, 2]) }] };
    const c = { layers: [{ w: tf.zeros([2, 3]) }, { w: tf.zeros([2, 3, 1]) }] };
    expect(() => zipTrees(a, b, (x) => x)).toThrow(TreeError);
    expect(() => zipTrees(a, b, (x) => x)).toThrow(
      /^zipTrees at "layers\.1\.w": expected a tensor of shape \[2, 3\], received a tensor of shape \[3, 2\]\. Fix: /,
    );
    expect(() => zipTrees(a, c, (x) => x)).toThrow(
      /^zipTrees at "layers\.1\.w": expected a tensor of shape \[2, 3\], received a tensor of shape \[2, 3, 1\]/,
    );
    disposeTree([a, b, c]);
  });

  it('a failed mapTree leaves none of the tensors it made before the bad leaf', async () => {
    const t = tf.ones([2]);
    await expectNoLeaks(() => {
      expect(() => mapTree({ first: t, second: 'not a tensor' } as TreeLike, (x) => tf.clone(x))).toThrow(TreeError);
    }, 'mapTree over a tree whose second leaf is a string');
    t.dispose();
  });

  it('a failed zipTrees leaves none of the tensors it combined before the bad path', async () => {
    const a = { first: tf.ones([2]), second: tf.ones([2, 3]) };
    const b = { first: tf.ones([2]), second: tf.ones([3, 2]) };
    await expectNoLeaks(() => {
      expect(() => zipTrees(a, b, (x, y) => tf.add(x, y))).toThrow(TreeError);
    }, 'zipTrees with a shape mismatch at the second leaf');
    disposeTree([a, b]);
  });

  it('unflattenTree builds objects and arrays from dotted paths, from a map or from pairs', () => {
    const [w0, w1, g] = [tf.zeros([1]), tf.zeros([2]), tf.zeros([3])];
    const fromMap = unflattenTree<{ layers: { w: tf.Tensor }[]; norm: { gamma: tf.Tensor } }>(
      new Map([
        ['layers.1.w', w1],
        ['norm.gamma', g],
        ['layers.0.w', w0],
      ]),
    );
    expect(Array.isArray(fromMap.layers)).toBe(true);
    expect(fromMap.layers[0]!.w).toBe(w0);
    expect(fromMap.layers[1]!.w).toBe(w1);
    expect(fromMap.norm.gamma).toBe(g);
    const fromPairs = unflattenTree<tf.Tensor[]>([
      ['1', w1],
      ['0', w0],
    ]);
    expect(fromPairs).toEqual([expect.objectContaining({ id: w0.id }), expect.objectContaining({ id: w1.id })]);
    expect(Array.isArray(fromPairs)).toBe(true);
    // A segment of digits beside another key stays an object key.
    const mixed = unflattenTree<Record<string, unknown>>([
      ['a.0', w0],
      ['a.x', w1],
    ]);
    expect(Array.isArray(mixed['a'])).toBe(false);
    expect(skeleton(mixed)).toEqual({ a: { 0: `#${w0.id}`, x: `#${w1.id}` } });
    tf.dispose([w0, w1, g]);
  });

  it('unflattenTree refuses an array with holes, naming the indices', () => {
    const t = tf.zeros([1]);
    expect(() =>
      unflattenTree([
        ['layers.0.w', t],
        ['layers.2.w', t],
      ]),
    ).toThrow(TreeError);
    expect(() =>
      unflattenTree([
        ['layers.0.w', t],
        ['layers.2.w', t],
      ]),
    ).toThrow(/^parameter paths under "layers": expected array indices 0, 1, … without gaps, received indices 0, 2\./);
    expect(() => unflattenTree([['model.layers.1', t]])).toThrow(
      /^parameter paths under "model\.layers": expected array indices 0, 1, … without gaps, received indices 1\./,
    );
    t.dispose();
  });

  it('unflattenTree refuses a path that is both a leaf and a prefix, or a repeated path', () => {
    const t = tf.zeros([1]);
    expect(() =>
      unflattenTree([
        ['a.b', t],
        ['a.b.c', t],
      ]),
    ).toThrow(TreeError);
    expect(() =>
      unflattenTree([
        ['a.b', t],
        ['a.b.c', t],
      ]),
    ).toThrow(
      /^parameter path "a\.b\.c": expected each path once, and never both a leaf and a prefix, received "a\.b" is a tensor\./,
    );
    expect(() =>
      unflattenTree([
        ['a.b.c', t],
        ['a.b', t],
      ]),
    ).toThrow(
      /^parameter path "a\.b": expected each path once, and never both a leaf and a prefix, received a repeated path\./,
    );
    expect(() =>
      unflattenTree([
        ['a.b', t],
        ['a.b', t],
      ]),
    ).toThrow(/^parameter path "a\.b": .*received a repeated path/);
    t.dispose();
  });

  it('disposeTree frees every leaf, skips undefined, and leaves other trees alone', () => {
    const keep = tf.ones([2]);
    const tree = { a: tf.ones([2]), b: [tf.ones([3]), undefined, { c: tf.ones([1]) }] };
    const before = tf.memory().numTensors;
    disposeTree(tree);
    expect(tf.memory().numTensors).toBe(before - 3);
    expect(treeLeaves(tree).every(([, t]) => t.isDisposed)).toBe(true);
    expect(keep.isDisposed).toBe(false);
    disposeTree(undefined);
    keep.dispose();
  });

  it('mapTree with tf.clone then disposeTree leaves the tensor count unchanged (and the original alive)', async () => {
    const tree = {
      layers: [
        { w: tf.ones([2, 2]), b: tf.zeros([2]) },
        { w: tf.ones([2, 2]), b: undefined },
      ],
      head: tf.ones([3]),
    };
    const before = tf.memory().numTensors;
    const copy = await expectTensorCount(() => mapTree(tree, (t) => tf.clone(t)), 4, 'mapTree(tf.clone)');
    disposeTree(copy);
    expect(tf.memory().numTensors).toBe(before);
    expectClose(tree.layers[0]!.w, [
      [1, 1],
      [1, 1],
    ]);
    await expectNoLeaks(
      () => mapTree(tree, (t) => tf.tidy(() => tf.add(tf.mul(t, 2), 1))),
      'mapTree with a tidy leaf map',
    );
    await expectNoLeaks(() => zipTrees(tree, tree, (x, y) => tf.tidy(() => tf.sub(tf.mul(x, 3), y))), 'zipTrees');
    disposeTree(tree);
  });

  it('property: unflattenTree ∘ flattenTree is the identity on trees without undefined leaves', () => {
    fc.assert(
      fc.property(rootSpec(false), (spec) => {
        const tree = build(spec);
        try {
          const flat = flattenTree(tree);
          const back = unflattenTree(flat);
          expect(skeleton(back)).toEqual(skeleton(tree));
          // and flattenTree ∘ unflattenTree is the identity on its maps (same paths, same order, same tensors).
          expect([...flattenTree(back)]).toEqual([...flat]);
        } finally {
          disposeTree(tree);
        }
      }),
      runs,
    );
  });

  it('property: mapTree preserves paths, order and shapes; a cloned tree disposes without leaks', () => {
    fc.assert(
      fc.property(rootSpec(true), (spec) => {
        const tree = build(spec);
        const before = tf.memory().numTensors;
        try {
          const leaves = treeLeaves(tree);
          const visited: string[] = [];
          const copy = mapTree(tree as TreeLike, (t, path) => {
            visited.push(path);
            return tf.clone(t);
          });
          const copied = treeLeaves(copy);
          expect(visited).toEqual(leaves.map(([p]) => p));
          expect(copied.map(([p]) => p)).toEqual(leaves.map(([p]) => p));
          expect(copied.map(([, t]) => t.shape)).toEqual(leaves.map(([, t]) => t.shape));
          copied.forEach(([, t], i) => expect(t).not.toBe(leaves[i]![1]));
          // The structure is the same, undefined leaves included.
          expect(JSON.stringify(skeleton(copy)).replace(/"#\d+"/g, 'T')).toBe(
            JSON.stringify(skeleton(tree)).replace(/"#\d+"/g, 'T'),
          );
          expect(tf.memory().numTensors).toBe(before + leaves.length);
          disposeTree(copy);
          expect(tf.memory().numTensors).toBe(before);
        } finally {
          disposeTree(tree);
        }
      }),
      runs,
    );
  });
});

describe('parameter paths', () => {
  it('pathsOf a model-shaped tree gives the documented paths (docs/checkpoints.md)', () => {
    const t = tf.zeros([1]);
    const layer = { attention: { wq: t, wk: t }, norm1: { gamma: t, beta: t } };
    expect(pathsOf({ layers: [layer, layer], finalNorm: { gamma: t, beta: undefined } })).toEqual([
      'layers.0.attention.wq',
      'layers.0.attention.wk',
      'layers.0.norm1.gamma',
      'layers.0.norm1.beta',
      'layers.1.attention.wq',
      'layers.1.attention.wk',
      'layers.1.norm1.gamma',
      'layers.1.norm1.beta',
      'finalNorm.gamma',
    ]);
    t.dispose();
  });
});
