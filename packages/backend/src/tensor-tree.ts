/**
 * Parameter trees: the controls θ of a model as a nested structure of tensors (objects, arrays, and tensors at
 * the leaves), addressed by dotted paths such as `layers.0.attention.wq`. One structure serves reading and
 * writing checkpoints (a key table maps checkpoint keys to paths), interpolating controls in time, training
 * variables and optimiser state, and disposal (docs/checkpoints.md).
 *
 * Leaves may be `undefined` (an absent optional parameter, e.g. a bias); they are skipped.
 */
import { tf } from '#tfjs-core';
import { TideError, describeValue } from './errors.js';

/**
 * A nested structure of tensors: a tensor, `undefined`, an array of trees or an object of trees. Functions
 * here accept any object (an interface such as a model's parameter type has no index signature) and check
 * the structure as they walk it.
 */
export type TensorTree = tf.Tensor | undefined | readonly TensorTree[] | { readonly [key: string]: TensorTree };

/** What the functions of this module accept: a {@link TensorTree} or any object of that structure. */
export type TreeLike = TensorTree | object;

/** A parameter tree is malformed, or two trees do not have the same structure. */
export class TreeError extends TideError {}

/** A plain object (`{…}` or `Object.create(null)`): a Map, Set, Date or class instance is not a tree node. */
function isPlainObject(value: unknown): value is Record<string, TreeLike> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function walk(tree: TreeLike | undefined, path: string, visit: (leaf: tf.Tensor, path: string) => void): void {
  if (tree === undefined) return;
  if (tree instanceof tf.Tensor) {
    visit(tree, path);
    return;
  }
  const prefix = path === '' ? '' : `${path}.`;
  if (Array.isArray(tree)) {
    (tree as readonly TreeLike[]).forEach((child, i) => walk(child, `${prefix}${i}`, visit));
    return;
  }
  if (!isPlainObject(tree)) {
    throw new TreeError(`parameter tree at "${path || '(root)'}"`, {
      expected: 'a tensor, an array or an object of tensors',
      received: describeValue(tree),
      fix: 'build parameter trees from tensors only',
    });
  }
  for (const key of Object.keys(tree)) walk(tree[key], `${prefix}${key}`, visit);
}

/** Every tensor of a tree with its path, in a stable order (object keys in insertion order, arrays by index). */
export function treeLeaves(tree: TreeLike | undefined): [path: string, leaf: tf.Tensor][] {
  const out: [string, tf.Tensor][] = [];
  walk(tree, '', (leaf, path) => out.push([path, leaf]));
  return out;
}

/** The tensors of a tree, as a map from path to tensor. */
export function flattenTree(tree: TreeLike | undefined): Map<string, tf.Tensor> {
  return new Map(treeLeaves(tree));
}

function rebuild(tree: TreeLike | undefined, path: string, leaf: (t: tf.Tensor, path: string) => tf.Tensor): unknown {
  if (tree === undefined) return undefined;
  if (tree instanceof tf.Tensor) return leaf(tree, path);
  const prefix = path === '' ? '' : `${path}.`;
  if (Array.isArray(tree))
    return (tree as readonly TreeLike[]).map((child, i) => rebuild(child, `${prefix}${i}`, leaf));
  if (!isPlainObject(tree)) {
    throw new TreeError(`parameter tree at "${path || '(root)'}"`, {
      expected: 'a tensor, an array or an object of tensors',
      received: describeValue(tree),
      fix: 'build parameter trees from tensors only',
    });
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(tree)) out[key] = rebuild(tree[key], `${prefix}${key}`, leaf);
  return out;
}

/**
 * A tree of the same structure whose leaves are `f(leaf, path)` (e.g. `tf.variable`, a cast, an interpolation).
 * The caller owns the new leaves.
 */
export function mapTree<T extends TreeLike>(tree: T, f: (leaf: tf.Tensor, path: string) => tf.Tensor): T {
  const made: tf.Tensor[] = [];
  try {
    const out: unknown = rebuild(tree, '', (leaf, path) => {
      const t = f(leaf, path);
      if (t !== leaf) made.push(t);
      return t;
    });
    return out as T;
  } catch (error) {
    tf.dispose(made); // a failure part-way leaves none of the new leaves behind
    throw error;
  }
}

/**
 * Combines two trees of the same structure leaf by leaf: `f(a_leaf, b_leaf, path)`. Throws a {@link TreeError}
 * naming the first path where the structures or shapes differ.
 */
export function zipTrees<T extends TreeLike>(
  a: T,
  b: T,
  f: (x: tf.Tensor, y: tf.Tensor, path: string) => tf.Tensor,
): T {
  const other = flattenTree(b);
  const mine = treeLeaves(a);
  if (mine.length !== other.size) {
    const missing =
      mine.find(([p]) => !other.has(p))?.[0] ?? [...other.keys()].find((p) => !mine.some(([q]) => q === p));
    throw new TreeError('zipTrees', {
      expected: 'two trees with the same paths',
      received: `${mine.length} and ${other.size} leaves (first difference at "${missing}")`,
      fix: 'combine parameters of models with the same architecture',
    });
  }
  // Check every path and shape before combining anything, so that a mismatch allocates nothing.
  for (const [path, x] of mine) {
    const y = other.get(path);
    if (y === undefined || y.shape.length !== x.shape.length || y.shape.some((s, i) => s !== x.shape[i])) {
      throw new TreeError(`zipTrees at "${path}"`, {
        expected: `a tensor of shape [${x.shape.join(', ')}]`,
        received: describeValue(y),
        fix: 'combine parameters of models with the same architecture',
      });
    }
  }
  return mapTree(a, (x, path) => f(x, other.get(path)!, path));
}

/**
 * Builds a tree from tensors keyed by dotted paths: a segment of digits is an array index, any other segment
 * an object key. Throws a {@link TreeError} for an array with holes or a path that is both a leaf and a node.
 */
export function unflattenTree<T extends TreeLike>(
  leaves: ReadonlyMap<string, tf.Tensor> | Iterable<[string, tf.Tensor]>,
): T {
  const root: Record<string, unknown> = {};
  for (const [path, leaf] of leaves) {
    const parts = path.split('.');
    let node: Record<string, unknown> = root;
    parts.forEach((part, i) => {
      if (i === parts.length - 1) {
        if (node[part] !== undefined)
          throw new TreeError(`parameter path "${path}"`, {
            expected: 'each path once, and never both a leaf and a prefix',
            received: 'a repeated path',
            fix: 'give every tensor its own path',
          });
        node[part] = leaf;
        return;
      }
      const next = node[part];
      if (next instanceof tf.Tensor)
        throw new TreeError(`parameter path "${path}"`, {
          expected: 'each path once, and never both a leaf and a prefix',
          received: `"${parts.slice(0, i + 1).join('.')}" is a tensor`,
          fix: 'give every tensor its own path',
        });
      node = (next as Record<string, unknown> | undefined) ?? (node[part] = {});
    });
  }
  const arrays = (node: unknown, path: string): unknown => {
    if (node instanceof tf.Tensor || typeof node !== 'object' || node === null) return node;
    const entries = Object.entries(node as Record<string, unknown>);
    if (entries.length > 0 && entries.every(([k]) => /^\d+$/.test(k))) {
      const list: unknown[] = [];
      for (const [k, v] of entries) list[Number(k)] = arrays(v, `${path}${k}.`);
      if (list.length !== entries.length)
        throw new TreeError(`parameter paths under "${path.slice(0, -1)}"`, {
          expected: 'array indices 0, 1, … without gaps',
          received: `indices ${entries.map(([k]) => k).join(', ')}`,
          fix: 'number layers from 0 without gaps',
        });
      return list;
    }
    return Object.fromEntries(entries.map(([k, v]) => [k, arrays(v, `${path}${k}.`)]));
  };
  const out: unknown = arrays(root, '');
  return out as T;
}

/** Disposes every tensor of a tree. */
export function disposeTree(tree: TreeLike | undefined): void {
  tf.dispose(treeLeaves(tree).map(([, t]) => t));
}
