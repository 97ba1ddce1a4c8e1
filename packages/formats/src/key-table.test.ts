// Key tables (docs/checkpoints.md): a checkpoint key ↔ parameter-tree paths, read and written by the same table.
// A small hand-made table exercises each rule: a transposed `Linear` kernel, a fused key split into Q | K | V,
// an optional key, a layout prefix and an ignored buffer; every failure is a CheckpointError that names the
// key, what was expected and what arrived, and a failed read leaves no tensors.
import { describe, expect, it } from 'vitest';
import { tf, TideError } from '@tide/backend';
import { expectNoLeaks, thrownBy } from '@tide/backend/testing';
import { CheckpointError } from './errors.js';
import { keyTableShapes, readWithKeyTable, writeWithKeyTable, type KeyTable } from './key-table.js';
import { readSafetensors, writeSafetensors, type SafeTensor } from './safetensors.js';

/** `0, 1, 2, …` (plus `offset`) as a float32 tensor of `shape`. */
function ramp(shape: number[], offset = 0): SafeTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return { dtype: 'F32', shape, data: Float32Array.from({ length: n }, (_, i) => i + offset) };
}

/** A table with every kind of row (d = 2). */
const table: KeyTable = {
  layout: 'test',
  entries: [
    {
      key: 'attn.in_proj_weight',
      shape: [6, 2],
      transpose: true,
      paths: ['attention.wq', 'attention.wk', 'attention.wv'],
    },
    { key: 'attn.in_proj_bias', shape: [6], paths: ['attention.bq', 'attention.bk', 'attention.bv'] },
    { key: 'attn.out.weight', shape: [2, 2], transpose: true, paths: ['attention.wo'] },
    { key: 'conv.weight', shape: [2, 3], paths: ['conv.w'] },
    { key: 'fused.weight', shape: [2, 4], paths: ['fused.left', 'fused.right'] },
    { key: 'head.weight', shape: [3, 2], paths: ['head'], optional: true },
  ],
  ignored: [/^attn\.mask$/],
  prefixes: ['model.'],
};

function checkpoint(
  options: { prefix?: string; head?: boolean; extra?: Record<string, SafeTensor> } = {},
): Map<string, SafeTensor> {
  const p = options.prefix ?? '';
  const out = new Map<string, SafeTensor>([
    [`${p}attn.in_proj_weight`, ramp([6, 2])],
    [`${p}attn.in_proj_bias`, ramp([6], 100)],
    [`${p}attn.out.weight`, ramp([2, 2], 200)],
    [`${p}conv.weight`, ramp([2, 3], 300)],
    [`${p}fused.weight`, ramp([2, 4], 400)],
  ]);
  if (options.head) out.set(`${p}head.weight`, ramp([3, 2], 500));
  for (const [k, v] of Object.entries(options.extra ?? {})) out.set(k, v);
  return out;
}

const values = (t: tf.Tensor) => t.arraySync();
const disposeLeaves = (leaves: Map<string, tf.Tensor>) => tf.dispose([...leaves.values()]);

describe('readWithKeyTable', () => {
  it('splits a transposed fused Linear kernel [3d, d] into the Q | K | V rows, each transposed to [in, out]', () => {
    const read = readWithKeyTable(checkpoint(), table);
    // in_proj_weight = [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9], [10, 11]] (rows Q | K | V, two each).
    expect(values(read.leaves.get('attention.wq')!)).toEqual([
      [0, 2],
      [1, 3],
    ]); // rows 0–1, transposed
    expect(values(read.leaves.get('attention.wk')!)).toEqual([
      [4, 6],
      [5, 7],
    ]); // rows 2–3, transposed
    expect(values(read.leaves.get('attention.wv')!)).toEqual([
      [8, 10],
      [9, 11],
    ]); // rows 4–5, transposed
    expect(values(read.leaves.get('attention.bq')!)).toEqual([100, 101]);
    expect(values(read.leaves.get('attention.bk')!)).toEqual([102, 103]);
    expect(values(read.leaves.get('attention.bv')!)).toEqual([104, 105]);
    // A single transposed kernel is the transpose of the stored matrix.
    expect(values(read.leaves.get('attention.wo')!)).toEqual([
      [200, 202],
      [201, 203],
    ]);
    // An untransposed kernel is stored [in, out] as is; a fused one splits its columns.
    expect(values(read.leaves.get('conv.w')!)).toEqual([
      [300, 301, 302],
      [303, 304, 305],
    ]);
    expect(values(read.leaves.get('fused.left')!)).toEqual([
      [400, 401],
      [404, 405],
    ]);
    expect(values(read.leaves.get('fused.right')!)).toEqual([
      [402, 403],
      [406, 407],
    ]);
    expect(read.leaves.get('attention.wq')!.dtype).toBe('float32');
    expect(read.unused).toEqual([]);
    expect(read.prefix).toBe('');
    disposeLeaves(read.leaves);
  });

  it('leaves an absent optional key unset, and reads it when present', () => {
    const without = readWithKeyTable(checkpoint(), table);
    expect(without.leaves.has('head')).toBe(false);
    expect([...without.leaves.keys()]).toEqual([...keyTableShapes(table).keys()].filter((p) => p !== 'head'));
    const withHead = readWithKeyTable(checkpoint({ head: true }), table);
    expect(values(withHead.leaves.get('head')!)).toEqual([
      [500, 501],
      [502, 503],
      [504, 505],
    ]);
    disposeLeaves(without.leaves);
    disposeLeaves(withHead.leaves);
  });

  it('detects a layout prefix, lists unknown keys in unused and skips ignored buffers (after the prefix)', () => {
    const read = readWithKeyTable(
      checkpoint({
        prefix: 'model.',
        head: true,
        extra: { 'model.attn.mask': ramp([1]), 'model.stray': ramp([1]), other: ramp([2]) },
      }),
      table,
    );
    expect(read.prefix).toBe('model.');
    expect(read.unused).toEqual(['model.stray', 'other']);
    expect(read.leaves.size).toBe(11);
    const plain = readWithKeyTable(checkpoint({ head: true }), table);
    for (const [path, t] of plain.leaves) expect(values(read.leaves.get(path)!), path).toEqual(values(t));
    // Without a table prefix nothing is stripped: a prefixed checkpoint is a missing key.
    expect(() => readWithKeyTable(checkpoint({ prefix: 'model.' }), { ...table, prefixes: [] })).toThrow(
      /"attn\.in_proj_weight": expected a tensor of shape \[6, 2\] \(test layout\), received no such key/,
    );
    disposeLeaves(read.leaves);
    disposeLeaves(plain.leaves);
  });

  it('a missing key is a CheckpointError naming the file, the key, the shape and the layout', () => {
    const tensors = checkpoint({ prefix: 'model.' });
    tensors.delete('model.fused.weight');
    const e = thrownBy(() => readWithKeyTable(tensors, table, 'ckpt/model.safetensors'));
    expect(e).toBeInstanceOf(CheckpointError);
    expect(e).toBeInstanceOf(TideError);
    expect(e.message).toBe(
      'ckpt/model.safetensors: "model.fused.weight": expected a tensor of shape [2, 4] (test layout), received no such key. ' +
        'Fix: the checkpoint does not match its config.json (or is not in the expected layout)',
    );
  });

  it('a wrong shape is a CheckpointError naming the key, the expected and the received shape', () => {
    const tensors = checkpoint();
    tensors.set('conv.weight', ramp([3, 2]));
    const e = thrownBy(() => readWithKeyTable(tensors, table));
    expect(e).toBeInstanceOf(CheckpointError);
    expect(e.message).toMatch(
      /^model\.safetensors: "conv\.weight": expected shape \[2, 3\] \(from config\.json\), received \[3, 2\]\. Fix: /,
    );
    tensors.set('conv.weight', ramp([6]));
    expect(() => readWithKeyTable(tensors, table)).toThrow(
      /"conv\.weight": expected shape \[2, 3\] \(from config\.json\), received \[6\]/,
    );
  });

  it('a NaN or infinite weight is a CheckpointError naming the key, the value and its index', () => {
    for (const [bad, shown] of [
      [NaN, 'NaN'],
      [Infinity, 'Infinity'],
      [-Infinity, '-Infinity'],
    ] as const) {
      // A stored-as-is weight, and a Linear weight checked while it is transposed; nothing is left allocated.
      for (const [key, shape] of [
        ['fused.weight', [2, 4]],
        ['attn.in_proj_weight', [6, 2]],
      ] as const) {
        const tensors = checkpoint();
        const w = ramp([...shape], 400);
        (w.data as Float32Array)[5] = bad;
        tensors.set(key, w);
        const before = tf.memory().numTensors;
        const e = thrownBy(() => readWithKeyTable(tensors, table));
        expect(tf.memory().numTensors).toBe(before);
        expect(e).toBeInstanceOf(CheckpointError);
        expect(e.message).toBe(
          `model.safetensors: "${key}": expected finite weights, received ${shown} at index 5. Fix: the checkpoint is corrupt`,
        );
      }
    }
  });

  it('refuses anything but a Map of tensors', () => {
    const asObject = Object.fromEntries(checkpoint());
    for (const bad of [asObject, [...checkpoint()], null, undefined, 'model.safetensors']) {
      const e = thrownBy(() => readWithKeyTable(bad as never, table, 'x.safetensors'));
      expect(e).toBeInstanceOf(CheckpointError);
      expect(e.message).toMatch(
        /^x\.safetensors: expected a map of tensors \(readSafetensors\(\.\.\.\)\.tensors\), received .*\. Fix: parse the file with readSafetensors first$/,
      );
    }
  });

  it('a failed read leaves no tensors, whichever key fails (first, middle or last)', async () => {
    const failures: [string, (m: Map<string, SafeTensor>) => void][] = [
      ['first key missing', (m) => m.delete('attn.in_proj_weight')],
      ['middle key misshapen', (m) => m.set('attn.out.weight', ramp([4]))],
      ['last required key missing', (m) => m.delete('fused.weight')],
      [
        'NaN in the optional last key',
        (m) => m.set('head.weight', { dtype: 'F32', shape: [3, 2], data: new Float32Array([0, 1, 2, NaN, 4, 5]) }),
      ],
    ];
    for (const [label, breakIt] of failures) {
      const tensors = checkpoint();
      breakIt(tensors);
      await expectNoLeaks(() => {
        expect(() => readWithKeyTable(tensors, table), label).toThrow(CheckpointError);
      }, label);
    }
    // A successful read leaves exactly its leaves (the split parts, not the fused intermediates).
    const before = tf.memory().numTensors;
    const read = readWithKeyTable(checkpoint({ head: true }), table);
    expect(tf.memory().numTensors - before).toBe(read.leaves.size);
    disposeLeaves(read.leaves);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('reads integer tensors as int32 tensors', () => {
    const intTable: KeyTable = { layout: 'ints', entries: [{ key: 'ids', shape: [3], paths: ['ids'] }] };
    const read = readWithKeyTable(
      new Map([['ids', { dtype: 'I64', shape: [3], data: new Int32Array([1, -2, 3]) } satisfies SafeTensor]]),
      intTable,
    );
    expect(read.leaves.get('ids')!.dtype).toBe('int32');
    expect(values(read.leaves.get('ids')!)).toEqual([1, -2, 3]);
    disposeLeaves(read.leaves);
  });
});

describe('malformed key tables', () => {
  const malformed: [string, KeyTable, RegExp][] = [
    [
      'a path filled twice',
      {
        layout: 'bad',
        entries: [
          { key: 'a', shape: [2], paths: ['p'] },
          { key: 'b', shape: [2], paths: ['p'] },
        ],
      },
      /^key table bad: path "p": expected each path filled by one key, received a path filled twice\./,
    ],
    [
      'a path filled twice by one key',
      { layout: 'bad', entries: [{ key: 'a', shape: [4], paths: ['p', 'p'] }] },
      /^key table bad: path "p": expected each path filled by one key/,
    ],
    [
      'a last axis not divisible by the number of paths',
      { layout: 'bad', entries: [{ key: 'a', shape: [2, 5], paths: ['q', 'k', 'v'] }] },
      /^key table bad: "a": expected at least one path, a last axis divisible by the number of paths, and transpose only for 2-D keys, received shape \[2, 5\], 3 path\(s\)\./,
    ],
    [
      'a transposed key whose out axis is not divisible',
      { layout: 'bad', entries: [{ key: 'a', shape: [5, 3], transpose: true, paths: ['q', 'k', 'v'] }] },
      /^key table bad: "a": .*received shape \[5, 3\], 3 path\(s\)/,
    ],
    [
      'no path',
      { layout: 'bad', entries: [{ key: 'a', shape: [2], paths: [] }] },
      /^key table bad: "a": .*received shape \[2\], 0 path\(s\)/,
    ],
    [
      'a transposed 3-D key',
      { layout: 'bad', entries: [{ key: 'a', shape: [2, 2, 2], transpose: true, paths: ['p'] }] },
      /^key table bad: "a": .*received shape \[2, 2, 2\], 1 path\(s\)/,
    ],
  ];

  it.each(malformed)('%s is a CheckpointError from read, write and keyTableShapes', async (_, bad, message) => {
    const tensors = new Map<string, SafeTensor>([
      ['a', ramp([2, 5])],
      ['b', ramp([2])],
    ]);
    await expectNoLeaks(() => {
      expect(() => readWithKeyTable(tensors, bad)).toThrow(CheckpointError);
      expect(() => readWithKeyTable(tensors, bad)).toThrow(message);
    });
    expect(() => writeWithKeyTable(new Map(), bad)).toThrow(message);
    expect(() => keyTableShapes(bad)).toThrow(message);
  });
});

describe('writeWithKeyTable', () => {
  it('writes a tensor of more than 2²⁴ elements (GPT-2-small token embeddings) and leaks nothing', async () => {
    // Regression: the values came back from tf.tidy, which walks what it returns element by element (seconds for
    // GPT-2's 50257 × 768 embedding; a save of a GPT-2-small-shaped model was reported failing with "Set maximum
    // size exceeded"). 4097² = 16 785 409 > 2²⁴.
    const big: KeyTable = { layout: 'big', entries: [{ key: 'wte', shape: [4097, 4097], paths: ['wte'] }] };
    const leaf = tf.fill([4097, 4097], 0.5);
    await expectNoLeaks(() => {
      const written = writeWithKeyTable(new Map([['wte', leaf]]), big);
      expect(written['wte']!.data.length).toBe(4097 * 4097);
      expect(written['wte']!.data[4097 * 4097 - 1]).toBe(0.5);
    }, 'writeWithKeyTable of a large tensor');
    leaf.dispose();
  });

  it('inverts readWithKeyTable exactly: fused keys concatenated, Linear kernels transposed back to [out, in]', () => {
    const source = checkpoint({ head: true });
    const read = readWithKeyTable(source, table);
    const written = writeWithKeyTable(read.leaves, table);
    expect(Object.keys(written)).toEqual(table.entries.map((e) => e.key));
    for (const [key, t] of Object.entries(written)) {
      expect(t.dtype, key).toBe('F32');
      expect(t.shape, key).toEqual(source.get(key)!.shape);
      expect(Array.from(t.data), key).toEqual(Array.from(source.get(key)!.data));
    }
    disposeLeaves(read.leaves);
  });

  it('skips an absent optional key, and writes the layout key without the prefix it was read with', () => {
    const read = readWithKeyTable(checkpoint({ prefix: 'model.' }), table);
    const written = writeWithKeyTable(read.leaves, table);
    expect(Object.keys(written)).toEqual(table.entries.filter((e) => !e.optional).map((e) => e.key));
    disposeLeaves(read.leaves);
  });

  it('a missing path (even one part of a fused key) is a CheckpointError naming the key and the path', async () => {
    const read = readWithKeyTable(checkpoint(), table);
    const leaves = new Map(read.leaves);
    leaves.delete('attention.bk');
    await expectNoLeaks(() => {
      const e = thrownBy(() => writeWithKeyTable(leaves, table));
      expect(e).toBeInstanceOf(CheckpointError);
      expect(e.message).toBe(
        'write test: "attn.in_proj_bias": expected parameter "attention.bk", received nothing at that path. Fix: write a model of the layout this table describes',
      );
    });
    // An optional key with only some of its paths is an error too; with none of them it is skipped.
    const partial: KeyTable = { layout: 'opt', entries: [{ key: 'o', shape: [4], paths: ['x', 'y'], optional: true }] };
    const x = tf.zeros([2]);
    expect(() => writeWithKeyTable(new Map([['x', x]]), partial)).toThrow(
      /^write opt: "o": expected parameter "y", received nothing at that path/,
    );
    expect(writeWithKeyTable(new Map(), partial)).toEqual({});
    x.dispose();
    disposeLeaves(read.leaves);
  });

  it('a wrong shape is a CheckpointError naming the key and both shapes, and leaks nothing', async () => {
    const read = readWithKeyTable(checkpoint(), table);
    const leaves = new Map(read.leaves);
    const wrong = tf.zeros([3, 2]);
    leaves.set('conv.w', wrong);
    await expectNoLeaks(() => {
      const e = thrownBy(() => writeWithKeyTable(leaves, table));
      expect(e).toBeInstanceOf(CheckpointError);
      expect(e.message).toBe(
        'write test: "conv.weight": expected shape [2, 3], received [3, 2]. Fix: the parameters do not match the layout',
      );
    });
    // A fused key whose parts do not fit: the concatenation's shape is reported.
    leaves.set('conv.w', read.leaves.get('conv.w')!);
    const wide = tf.zeros([2, 3]);
    leaves.set('attention.wk', wide);
    await expectNoLeaks(() => {
      expect(() => writeWithKeyTable(leaves, table)).toThrow(
        /^write test: "attn\.in_proj_weight": expected shape \[6, 2\], received \[7, 2\]/,
      );
    });
    tf.dispose([wrong, wide]);
    disposeLeaves(read.leaves);
  });

  it('writes float32 whatever the leaf dtype, and keeps the leaves alive', async () => {
    const one: KeyTable = { layout: 'one', entries: [{ key: 'k', shape: [2], paths: ['p'] }] };
    const p = tf.tensor1d([3, -4], 'int32');
    let written: ReturnType<typeof writeWithKeyTable> = {};
    await expectNoLeaks(() => {
      written = writeWithKeyTable(new Map([['p', p]]), one);
    });
    expect(written['k']!.dtype).toBe('F32');
    expect(Array.from(written['k']!.data)).toEqual([3, -4]);
    // The bytes are float32 (the cpu backend's cast may hand back the int32 buffer: its values, not its bits, are written).
    const back = readSafetensors(writeSafetensors(written)).tensors.get('k')!;
    expect(back.dtype).toBe('F32');
    expect(Array.from(back.data)).toEqual([3, -4]);
    expect(p.isDisposed).toBe(false);
    p.dispose();
  });
});

describe('keyTableShapes', () => {
  it('gives each path its shape: [in, out] for transposed kernels, the last axis divided among fused paths', () => {
    expect(Object.fromEntries(keyTableShapes(table))).toEqual({
      'attention.wq': [2, 2],
      'attention.wk': [2, 2],
      'attention.wv': [2, 2],
      'attention.bq': [2],
      'attention.bk': [2],
      'attention.bv': [2],
      'attention.wo': [2, 2],
      'conv.w': [2, 3],
      'fused.left': [2, 2],
      'fused.right': [2, 2],
      head: [3, 2],
    });
  });

  it('agrees with the shapes of the leaves read', () => {
    const read = readWithKeyTable(checkpoint({ head: true }), table);
    const shapes = keyTableShapes(table);
    expect([...read.leaves.keys()]).toEqual([...shapes.keys()]);
    for (const [path, t] of read.leaves) expect(t.shape, path).toEqual(shapes.get(path));
    disposeLeaves(read.leaves);
  });
});
