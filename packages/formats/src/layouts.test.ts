// The text-model layouts of docs/checkpoints.md as key tables. The state dicts here are written from the
// page's tables (HF names and stored shapes), not from the key tables, so the tests check the tables against
// the documented layouts: every tensor lands at its documented path with its documented orientation
// (GPT-2 Conv1D `[in, out]` as is, `c_attn` columns Q | K | V; PyTorch `Linear` `[out, in]` transposed,
// `in_proj_weight` rows Q | K | V), and bytes → tree → bytes is exact.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { seededRandom, tf, unflattenTree } from '@tide/backend';
import { expectNoLeaks } from '@tide/backend/testing';
import { CheckpointError } from './errors.js';
import { keyTableShapes, readWithKeyTable, writeWithKeyTable, type KeyTable } from './key-table.js';
import { gpt2KeyTable, gpt2LayerPrefix, smoothControlsPrefix, torchEncoderKeyTable } from './layouts.js';
import { readSafetensors, writeSafetensors, type SafeTensor, type TensorToWrite } from './safetensors.js';

interface Sizes {
  readonly layers: number;
  readonly dModel: number;
  readonly dFeedforward: number;
  readonly vocabSize: number;
  readonly positions: number;
}

/** How a parameter is taken from its stored tensor (docs/checkpoints.md). */
type Take =
  | { readonly key: string; readonly as: 'same' | 'transposed' }
  | {
      readonly key: string;
      readonly as: 'columns' | 'rows, transposed' | 'part';
      readonly index: number;
      readonly of: number;
    };

/** GPT-2 (HF names): Conv1D kernels stored [in, out]; `c_attn` = columns Q | K | V; `lm_head` optional. */
function gpt2Layout(
  s: Sizes,
  head: boolean,
  layerPrefix: (i: number) => string = (i) => `h.${i}.`,
): { shapes: Record<string, number[]>; paths: Record<string, Take> } {
  const { dModel: d, dFeedforward: f } = s;
  const shapes: Record<string, number[]> = { 'wte.weight': [s.vocabSize, d], 'wpe.weight': [s.positions, d] };
  const paths: Record<string, Take> = {
    'embeddings.tokens': { key: 'wte.weight', as: 'same' },
    'embeddings.positions': { key: 'wpe.weight', as: 'same' },
  };
  for (let i = 0; i < s.layers; i++) {
    const h = layerPrefix(i);
    const p = `layers.${i}.`;
    Object.assign(shapes, {
      [`${h}ln_1.weight`]: [d],
      [`${h}ln_1.bias`]: [d],
      [`${h}attn.c_attn.weight`]: [d, 3 * d],
      [`${h}attn.c_attn.bias`]: [3 * d],
      [`${h}attn.c_proj.weight`]: [d, d],
      [`${h}attn.c_proj.bias`]: [d],
      [`${h}ln_2.weight`]: [d],
      [`${h}ln_2.bias`]: [d],
      [`${h}mlp.c_fc.weight`]: [d, f],
      [`${h}mlp.c_fc.bias`]: [f],
      [`${h}mlp.c_proj.weight`]: [f, d],
      [`${h}mlp.c_proj.bias`]: [d],
    });
    ['q', 'k', 'v'].forEach((x, j) => {
      paths[`${p}attention.w${x}`] = { key: `${h}attn.c_attn.weight`, as: 'columns', index: j, of: 3 };
      paths[`${p}attention.b${x}`] = { key: `${h}attn.c_attn.bias`, as: 'part', index: j, of: 3 };
    });
    Object.assign(paths, {
      [`${p}attention.wo`]: { key: `${h}attn.c_proj.weight`, as: 'same' },
      [`${p}attention.bo`]: { key: `${h}attn.c_proj.bias`, as: 'same' },
      [`${p}norm1.gamma`]: { key: `${h}ln_1.weight`, as: 'same' },
      [`${p}norm1.beta`]: { key: `${h}ln_1.bias`, as: 'same' },
      [`${p}norm2.gamma`]: { key: `${h}ln_2.weight`, as: 'same' },
      [`${p}norm2.beta`]: { key: `${h}ln_2.bias`, as: 'same' },
      [`${p}feedforward.w1`]: { key: `${h}mlp.c_fc.weight`, as: 'same' },
      [`${p}feedforward.b1`]: { key: `${h}mlp.c_fc.bias`, as: 'same' },
      [`${p}feedforward.w2`]: { key: `${h}mlp.c_proj.weight`, as: 'same' },
      [`${p}feedforward.b2`]: { key: `${h}mlp.c_proj.bias`, as: 'same' },
    });
  }
  Object.assign(shapes, { 'ln_f.weight': [d], 'ln_f.bias': [d] });
  Object.assign(paths, {
    'finalNorm.gamma': { key: 'ln_f.weight', as: 'same' },
    'finalNorm.beta': { key: 'ln_f.bias', as: 'same' },
  });
  if (head) {
    shapes['lm_head.weight'] = [s.vocabSize, d];
    paths['embeddings.head'] = { key: 'lm_head.weight', as: 'same' };
  }
  return { shapes, paths };
}

/** PyTorch nn.TransformerEncoder: Linear stored [out, in]; `in_proj_weight` = rows Q | K | V; `norm.*` with a final norm. */
function encoderLayout(
  s: Sizes,
  finalNorm: boolean,
): { shapes: Record<string, number[]>; paths: Record<string, Take> } {
  const { dModel: d, dFeedforward: f } = s;
  const shapes: Record<string, number[]> = {};
  const paths: Record<string, Take> = {};
  for (let i = 0; i < s.layers; i++) {
    const l = `layers.${i}.`;
    Object.assign(shapes, {
      [`${l}self_attn.in_proj_weight`]: [3 * d, d],
      [`${l}self_attn.in_proj_bias`]: [3 * d],
      [`${l}self_attn.out_proj.weight`]: [d, d],
      [`${l}self_attn.out_proj.bias`]: [d],
      [`${l}linear1.weight`]: [f, d],
      [`${l}linear1.bias`]: [f],
      [`${l}linear2.weight`]: [d, f],
      [`${l}linear2.bias`]: [d],
      [`${l}norm1.weight`]: [d],
      [`${l}norm1.bias`]: [d],
      [`${l}norm2.weight`]: [d],
      [`${l}norm2.bias`]: [d],
    });
    ['q', 'k', 'v'].forEach((x, j) => {
      paths[`${l}attention.w${x}`] = { key: `${l}self_attn.in_proj_weight`, as: 'rows, transposed', index: j, of: 3 };
      paths[`${l}attention.b${x}`] = { key: `${l}self_attn.in_proj_bias`, as: 'part', index: j, of: 3 };
    });
    Object.assign(paths, {
      [`${l}attention.wo`]: { key: `${l}self_attn.out_proj.weight`, as: 'transposed' },
      [`${l}attention.bo`]: { key: `${l}self_attn.out_proj.bias`, as: 'same' },
      [`${l}norm1.gamma`]: { key: `${l}norm1.weight`, as: 'same' },
      [`${l}norm1.beta`]: { key: `${l}norm1.bias`, as: 'same' },
      [`${l}norm2.gamma`]: { key: `${l}norm2.weight`, as: 'same' },
      [`${l}norm2.beta`]: { key: `${l}norm2.bias`, as: 'same' },
      [`${l}feedforward.w1`]: { key: `${l}linear1.weight`, as: 'transposed' },
      [`${l}feedforward.b1`]: { key: `${l}linear1.bias`, as: 'same' },
      [`${l}feedforward.w2`]: { key: `${l}linear2.weight`, as: 'transposed' },
      [`${l}feedforward.b2`]: { key: `${l}linear2.bias`, as: 'same' },
    });
  }
  if (finalNorm) {
    Object.assign(shapes, { 'norm.weight': [d], 'norm.bias': [d] });
    Object.assign(paths, {
      'finalNorm.gamma': { key: 'norm.weight', as: 'same' },
      'finalNorm.beta': { key: 'norm.bias', as: 'same' },
    });
  }
  return { shapes, paths };
}

/** The stored name of a key: HF's GPT2LMHeadModel prefixes every key with `transformer.` except `lm_head.weight`. */
const stored = (prefix: string, key: string): string => (key === 'lm_head.weight' ? key : prefix + key);

/** Random float32 values (exactly representable) for each key. */
function stateDict(shapes: Record<string, number[]>, seed: number, prefix = ''): Record<string, TensorToWrite> {
  const next = seededRandom(seed);
  return Object.fromEntries(
    Object.entries(shapes).map(([k, shape]) => [
      stored(prefix, k),
      {
        dtype: 'F32' as const,
        shape,
        data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => Math.fround(4 * next() - 2)),
      },
    ]),
  );
}

/** Row-major data of `shape` as nested arrays (a vector or a matrix). */
function nested(data: ArrayLike<number>, shape: readonly number[]): number[] | number[][] {
  const flat = Array.from(data);
  if (shape.length === 1) return flat;
  return Array.from({ length: shape[0]! }, (_, r) => flat.slice(r * shape[1]!, (r + 1) * shape[1]!));
}

const transpose = (m: number[][]) => m[0]!.map((_, c) => m.map((row) => row[c]!));

/** The parameter a documented rule takes from the stored tensor, computed by hand. */
function expected(take: Take, stored: SafeTensor): number[] | number[][] {
  const m = nested(stored.data, stored.shape);
  switch (take.as) {
    case 'same':
      return m;
    case 'transposed':
      return transpose(m as number[][]);
    case 'part': {
      const v = m as number[];
      const n = v.length / take.of;
      return v.slice(take.index * n, (take.index + 1) * n);
    }
    case 'columns': {
      const rows = m as number[][];
      const n = rows[0]!.length / take.of;
      return rows.map((row) => row.slice(take.index * n, (take.index + 1) * n));
    }
    case 'rows, transposed': {
      const rows = m as number[][];
      const n = rows.length / take.of;
      return transpose(rows.slice(take.index * n, (take.index + 1) * n));
    }
  }
}

/** Every path of the parameter tree (docs/checkpoints.md; model.ts). */
const DOCUMENTED_PATH =
  /^(layers\.(\d+)\.(attention\.(wq|wk|wv|wo|bq|bk|bv|bo)|norm[12]\.(gamma|beta)|feedforward\.(w1|b1|w2|b2))|finalNorm\.(gamma|beta)|embeddings\.(tokens|positions|head))$/;

const sizes: fc.Arbitrary<Sizes> = fc
  .record({
    layers: fc.integer({ min: 1, max: 3 }),
    heads: fc.integer({ min: 1, max: 4 }),
    perHead: fc.integer({ min: 1, max: 3 }),
    dFeedforward: fc.integer({ min: 1, max: 16 }),
    vocabSize: fc.integer({ min: 2, max: 20 }),
    positions: fc.integer({ min: 1, max: 10 }),
  })
  .map(({ heads, perHead, ...rest }) => ({ ...rest, dModel: heads * perHead }));
const runs = { seed: 42, numRuns: 50 };

/**
 * Writes a documented state dict as bytes, reads it through the table, checks every leaf against the
 * documented rule and writes it back; returns nothing, leaves nothing.
 */
function roundTrip(
  table: KeyTable,
  layout: { shapes: Record<string, number[]>; paths: Record<string, Take> },
  s: Sizes,
  seed: number,
  options: { prefix?: string; buffers?: string[] } = {},
): void {
  const prefix = options.prefix ?? '';
  const dict = stateDict(layout.shapes, seed, prefix);
  for (const b of options.buffers ?? []) dict[prefix + b] = { dtype: 'F32', shape: [1, 1, 2, 2], data: [1, 0, 1, 1] };
  const tensors = readSafetensors(writeSafetensors(dict)).tensors;
  const before = tf.memory().numTensors;
  const read = readWithKeyTable(tensors, table);
  try {
    expect(read.prefix).toBe(prefix);
    expect(read.unused).toEqual([]);
    // Exactly the documented paths, each of the documented form, layer indices below the number of layers.
    expect([...read.leaves.keys()].sort()).toEqual(Object.keys(layout.paths).sort());
    for (const path of read.leaves.keys()) {
      const m = DOCUMENTED_PATH.exec(path);
      expect(m, path).not.toBeNull();
      if (m![2] !== undefined) expect(Number(m![2])).toBeLessThan(s.layers);
    }
    const tree = unflattenTree<{ layers: unknown[] }>(read.leaves);
    expect(tree.layers).toHaveLength(s.layers);
    // Each leaf is its documented slice of the stored tensor, exactly.
    for (const [path, take] of Object.entries(layout.paths)) {
      expect(read.leaves.get(path)!.arraySync(), `${path} ← ${take.key} (${take.as})`).toEqual(
        expected(take, tensors.get(stored(prefix, take.key))!),
      );
    }
    // keyTableShapes agrees with the leaves (and lists the optional head even when absent).
    const shapes = keyTableShapes(table);
    for (const [path, t] of read.leaves) expect(t.shape, path).toEqual(shapes.get(path));
    expect([...shapes.keys()].filter((p) => !read.leaves.has(p))).toEqual(
      read.leaves.has('embeddings.head') || !shapes.has('embeddings.head') ? [] : ['embeddings.head'],
    );
    // Written back: the same keys (without prefix and buffers), shapes and values, bit for bit.
    const written = writeWithKeyTable(read.leaves, table);
    expect(Object.keys(written).sort()).toEqual(Object.keys(layout.shapes).sort());
    for (const [key, t] of Object.entries(written)) {
      const original = tensors.get(stored(prefix, key))!;
      expect(t.shape, key).toEqual(original.shape);
      expect(Float32Array.from(t.data), key).toEqual(original.data);
    }
    const again = readSafetensors(writeSafetensors(written)).tensors;
    for (const [key, t] of again) expect(t.data, key).toEqual(tensors.get(stored(prefix, key))!.data);
  } finally {
    tf.dispose([...read.leaves.values()]);
  }
  expect(tf.memory().numTensors).toBe(before);
}

describe('gpt2KeyTable', () => {
  it('property: a random GPT-2 state dict (any prefix, head, buffers) round-trips bytes → tree → bytes exactly', () => {
    fc.assert(
      fc.property(sizes, fc.boolean(), fc.boolean(), fc.boolean(), fc.nat(), (s, head, prefixed, buffers, seed) => {
        const table = gpt2KeyTable(s);
        const bufferKeys = buffers
          ? Array.from({ length: s.layers }, (_, i) => [`h.${i}.attn.bias`, `h.${i}.attn.masked_bias`]).flat()
          : [];
        roundTrip(table, gpt2Layout(s, head), s, seed, { prefix: prefixed ? 'transformer.' : '', buffers: bufferKeys });
      }),
      runs,
    );
  });

  it('names the HF GPT-2 layout and lists 16 rows per layer, 4 embedding and final-norm rows and the optional head', () => {
    const table = gpt2KeyTable({ layers: 2, dModel: 4, dFeedforward: 8, vocabSize: 5, positions: 3 });
    expect(table.layout).toBe('HF GPT-2');
    expect(table.entries.map((e) => e.key).sort()).toEqual(
      Object.keys(
        gpt2Layout({ layers: 2, dModel: 4, dFeedforward: 8, vocabSize: 5, positions: 3 }, true).shapes,
      ).sort(),
    );
    expect(table.entries.filter((e) => e.optional).map((e) => e.key)).toEqual(['lm_head.weight']);
    expect(table.entries.some((e) => e.transpose)).toBe(false); // Conv1D is [in, out]
    expect(keyTableShapes(table).size).toBe(2 * 16 + 5);
  });

  const small = { layers: 1, dModel: 2, dFeedforward: 3, vocabSize: 4, positions: 2 };

  it('splits c_attn into the columns Q | K | V (hand-computed)', () => {
    const dict = stateDict(gpt2Layout(small, false).shapes, 1);
    // c_attn.weight [2, 6] = [[0 … 5], [6 … 11]]; c_attn.bias = [20 … 25].
    dict['h.0.attn.c_attn.weight'] = { dtype: 'F32', shape: [2, 6], data: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11] };
    dict['h.0.attn.c_attn.bias'] = { dtype: 'F32', shape: [6], data: [20, 21, 22, 23, 24, 25] };
    const read = readWithKeyTable(readSafetensors(writeSafetensors(dict)).tensors, gpt2KeyTable(small));
    const get = (p: string) => read.leaves.get(p)!.arraySync();
    expect(get('layers.0.attention.wq')).toEqual([
      [0, 1],
      [6, 7],
    ]);
    expect(get('layers.0.attention.wk')).toEqual([
      [2, 3],
      [8, 9],
    ]);
    expect(get('layers.0.attention.wv')).toEqual([
      [4, 5],
      [10, 11],
    ]);
    expect([get('layers.0.attention.bq'), get('layers.0.attention.bk'), get('layers.0.attention.bv')]).toEqual([
      [20, 21],
      [22, 23],
      [24, 25],
    ]);
    tf.dispose([...read.leaves.values()]);
  });

  it('detects the transformer. prefix and reads the same leaves as without it', () => {
    const layout = gpt2Layout(small, false);
    const plain = readWithKeyTable(
      readSafetensors(writeSafetensors(stateDict(layout.shapes, 3))).tensors,
      gpt2KeyTable(small),
    );
    const prefixed = readWithKeyTable(
      readSafetensors(writeSafetensors(stateDict(layout.shapes, 3, 'transformer.'))).tensors,
      gpt2KeyTable(small),
    );
    expect(plain.prefix).toBe('');
    expect(prefixed.prefix).toBe('transformer.');
    expect([...prefixed.leaves.keys()]).toEqual([...plain.leaves.keys()]);
    for (const [p, t] of plain.leaves) expect(prefixed.leaves.get(p)!.arraySync(), p).toEqual(t.arraySync());
    tf.dispose([...plain.leaves.values(), ...prefixed.leaves.values()]);
  });

  it('ignores the attn.bias / attn.masked_bias buffers (not in unused) and lists an unknown key in unused', () => {
    for (const prefix of ['', 'transformer.']) {
      const dict = stateDict(gpt2Layout(small, false).shapes, 4, prefix);
      const buffer: TensorToWrite = { dtype: 'F32', shape: [1, 1, 2, 2], data: [1, 0, 1, 1] };
      dict[`${prefix}h.0.attn.bias`] = buffer;
      dict[`${prefix}h.0.attn.masked_bias`] = { dtype: 'F32', shape: [], data: [-1e4] };
      dict[`${prefix}h.0.attn.rotary`] = buffer;
      dict[`${prefix}h.1.ln_1.weight`] = { dtype: 'F32', shape: [2], data: [1, 1] }; // a layer the config does not have
      dict['score.weight'] = { dtype: 'F32', shape: [2, 2], data: [1, 2, 3, 4] };
      const read = readWithKeyTable(readSafetensors(writeSafetensors(dict)).tensors, gpt2KeyTable(small));
      expect(read.unused, prefix).toEqual([`${prefix}h.0.attn.rotary`, `${prefix}h.1.ln_1.weight`, 'score.weight']);
      tf.dispose([...read.leaves.values()]);
    }
  });

  it('lm_head.weight is optional: absent, the tree has no head; present, it is embeddings.head [V, d]', () => {
    const without = readWithKeyTable(
      readSafetensors(writeSafetensors(stateDict(gpt2Layout(small, false).shapes, 5))).tensors,
      gpt2KeyTable(small),
    );
    expect(without.leaves.has('embeddings.head')).toBe(false);
    expect(Object.keys(writeWithKeyTable(without.leaves, gpt2KeyTable(small)))).not.toContain('lm_head.weight');
    const dict = stateDict(gpt2Layout(small, true).shapes, 5);
    const read = readWithKeyTable(readSafetensors(writeSafetensors(dict)).tensors, gpt2KeyTable(small));
    expect(read.leaves.get('embeddings.head')!.shape).toEqual([4, 2]);
    expect(Array.from(read.leaves.get('embeddings.head')!.dataSync())).toEqual(
      Array.from(dict['lm_head.weight']!.data),
    );
    tf.dispose([...without.leaves.values(), ...read.leaves.values()]);
  });

  it('reads the untied lm_head.weight of a transformer.-prefixed GPT2LMHeadModel state dict (HF never prefixes lm_head)', () => {
    // GPT2LMHeadModel.state_dict(): transformer.wte.weight, …, transformer.ln_f.bias, lm_head.weight.
    const dict = stateDict(gpt2Layout(small, false).shapes, 6, 'transformer.');
    dict['lm_head.weight'] = { dtype: 'F32', shape: [4, 2], data: [1, 2, 3, 4, 5, 6, 7, 8] };
    const read = readWithKeyTable(readSafetensors(writeSafetensors(dict)).tensors, gpt2KeyTable(small));
    try {
      expect(read.prefix).toBe('transformer.');
      expect(read.unused).toEqual([]);
      expect(read.leaves.get('embeddings.head')?.arraySync()).toEqual([
        [1, 2],
        [3, 4],
        [5, 6],
        [7, 8],
      ]);
    } finally {
      tf.dispose([...read.leaves.values()]);
    }
  });
});

describe('gpt2KeyTable with smooth controls (docs/checkpoints.md, "Smooth controls")', () => {
  const controls = (i: number) => `tide_controls.${i}.`;

  it('property: K coefficient sets stored as tide_controls.{k}.<GPT-2 layer key> round-trip bytes → tree → bytes exactly', () => {
    fc.assert(
      fc.property(sizes, fc.boolean(), fc.nat(), (s, head, seed) => {
        roundTrip(gpt2KeyTable({ ...s, layerPrefix: smoothControlsPrefix }), gpt2Layout(s, head, controls), s, seed);
      }),
      runs,
    );
  });

  it('names coefficient k of h.{i}.attn.c_attn.weight tide_controls.{k}.attn.c_attn.weight; the default prefix is h.{i}.', () => {
    const sizes3 = { layers: 3, dModel: 4, dFeedforward: 8, vocabSize: 5, positions: 3 };
    const table = gpt2KeyTable({ ...sizes3, layerPrefix: smoothControlsPrefix });
    expect(table.layout).toBe('HF GPT-2 with TIDE smooth controls');
    expect(table.entries.map((e) => e.key)).toContain('tide_controls.0.attn.c_attn.weight');
    expect(table.entries.map((e) => e.key)).toContain('tide_controls.2.mlp.c_proj.bias');
    expect(table.entries.filter((e) => e.key.startsWith('h.'))).toEqual([]);
    expect(table.entries.map((e) => e.key).sort()).toEqual(
      Object.keys(gpt2Layout(sizes3, true, controls).shapes).sort(),
    );
    expect(gpt2LayerPrefix(7)).toBe('h.7.');
    expect(gpt2KeyTable({ ...sizes3, layerPrefix: gpt2LayerPrefix }).entries).toEqual(gpt2KeyTable(sizes3).entries);
    expect(gpt2KeyTable({ ...sizes3, layerPrefix: (i) => `blocks.${i}.` }).layout).toBe(
      'HF GPT-2 (parameter sets blocks.0.…)',
    );
  });

  it('a plain GPT-2 reader fails loudly on a smooth-control state dict (missing h.0.*), and the reverse', async () => {
    const small = { layers: 2, dModel: 2, dFeedforward: 3, vocabSize: 4, positions: 2 };
    const smooth = readSafetensors(writeSafetensors(stateDict(gpt2Layout(small, false, controls).shapes, 8))).tensors;
    const plain = readSafetensors(writeSafetensors(stateDict(gpt2Layout(small, false).shapes, 8))).tensors;
    await expectNoLeaks(() => {
      expect(() => readWithKeyTable(smooth, gpt2KeyTable(small))).toThrow(
        /"h\.0\.ln_1\.weight": expected a tensor of shape \[2\] \(HF GPT-2 layout\), received no such key/,
      );
      expect(() => readWithKeyTable(plain, gpt2KeyTable({ ...small, layerPrefix: smoothControlsPrefix }))).toThrow(
        /"tide_controls\.0\.ln_1\.weight": expected a tensor of shape \[2\] \(HF GPT-2 with TIDE smooth controls layout\)/,
      );
    });
  });
});

describe('torchEncoderKeyTable', () => {
  it('property: a random nn.TransformerEncoder state dict (with or without norm) round-trips bytes → tree → bytes exactly', () => {
    fc.assert(
      fc.property(sizes, fc.boolean(), fc.nat(), (s, finalNorm, seed) => {
        roundTrip(torchEncoderKeyTable({ ...s, finalNorm }), encoderLayout(s, finalNorm), s, seed);
      }),
      runs,
    );
  });

  it('names PyTorch keys (in_proj_weight with an underscore) and transposes every Linear kernel, never a bias or norm', () => {
    const table = torchEncoderKeyTable({ layers: 1, dModel: 2, dFeedforward: 3, finalNorm: true });
    expect(table.layout).toBe('torch nn.TransformerEncoder');
    expect(table.entries.map((e) => e.key).sort()).toEqual(
      Object.keys(
        encoderLayout({ layers: 1, dModel: 2, dFeedforward: 3, vocabSize: 1, positions: 1 }, true).shapes,
      ).sort(),
    );
    expect(
      table.entries
        .filter((e) => e.transpose)
        .map((e) => e.key)
        .sort(),
    ).toEqual([
      'layers.0.linear1.weight',
      'layers.0.linear2.weight',
      'layers.0.self_attn.in_proj_weight',
      'layers.0.self_attn.out_proj.weight',
    ]);
    expect(table.prefixes ?? []).toEqual([]);
    expect(
      torchEncoderKeyTable({ layers: 1, dModel: 2, dFeedforward: 3, finalNorm: false }).entries.some((e) =>
        e.key.startsWith('norm.'),
      ),
    ).toBe(false);
  });

  it('splits in_proj_weight [3d, d] into the rows Q | K | V, each transposed to [in, out] (hand-computed)', () => {
    const s = { layers: 1, dModel: 2, dFeedforward: 3, vocabSize: 1, positions: 1 };
    const dict = stateDict(encoderLayout(s, false).shapes, 7);
    // in_proj_weight = [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9], [10, 11]]; linear1.weight [3, 2] = [[0, 1], [2, 3], [4, 5]].
    dict['layers.0.self_attn.in_proj_weight'] = {
      dtype: 'F32',
      shape: [6, 2],
      data: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
    };
    dict['layers.0.linear1.weight'] = { dtype: 'F32', shape: [3, 2], data: [0, 1, 2, 3, 4, 5] };
    const read = readWithKeyTable(
      readSafetensors(writeSafetensors(dict)).tensors,
      torchEncoderKeyTable({ ...s, finalNorm: false }),
    );
    const get = (p: string) => read.leaves.get(p)!.arraySync();
    expect(get('layers.0.attention.wq')).toEqual([
      [0, 2],
      [1, 3],
    ]);
    expect(get('layers.0.attention.wk')).toEqual([
      [4, 6],
      [5, 7],
    ]);
    expect(get('layers.0.attention.wv')).toEqual([
      [8, 10],
      [9, 11],
    ]);
    expect(get('layers.0.feedforward.w1')).toEqual([
      [0, 2, 4],
      [1, 3, 5],
    ]); // [d, d_ff]
    // u·wq = (W_q u)ᵀ: the PyTorch product with the stored rows, computed with tf ops.
    const u = tf.tensor2d([[1, -2]]);
    const mine = tf.matMul(u, read.leaves.get('layers.0.attention.wq')!);
    const torch = tf.matMul(
      u,
      tf.tensor2d([
        [0, 1],
        [2, 3],
      ]),
      false,
      true,
    );
    expect(mine.arraySync()).toEqual(torch.arraySync());
    tf.dispose([u, mine, torch, ...read.leaves.values()]);
  });

  it('lists norm.* in unused when the config has no final norm', () => {
    const s = { layers: 1, dModel: 2, dFeedforward: 2, vocabSize: 1, positions: 1 };
    const read = readWithKeyTable(
      readSafetensors(writeSafetensors(stateDict(encoderLayout(s, true).shapes, 8))).tensors,
      torchEncoderKeyTable({ ...s, finalNorm: false }),
    );
    expect(read.unused).toEqual(['norm.weight', 'norm.bias']);
    expect(read.leaves.has('finalNorm.gamma')).toBe(false);
    tf.dispose([...read.leaves.values()]);
  });
});

describe('layouts: bad checkpoints', () => {
  const s = { layers: 2, dModel: 4, dFeedforward: 3, vocabSize: 5, positions: 2 };

  /** The error `f` throws. */
  const thrown = (f: () => unknown): Error => {
    try {
      f();
    } catch (e) {
      return e as Error;
    }
    throw new Error('expected a throw');
  };

  it('a missing key, a wrong shape and a NaN are CheckpointErrors naming the key, expected and received; none leaks', async () => {
    const cases: [string, KeyTable, (d: Record<string, TensorToWrite>) => void, RegExp][] = [
      [
        'gpt2 missing',
        gpt2KeyTable(s),
        (d) => delete d['h.1.mlp.c_fc.bias'],
        /^model\.safetensors: "h\.1\.mlp\.c_fc\.bias": expected a tensor of shape \[3\] \(HF GPT-2 layout\), received no such key\./,
      ],
      [
        'gpt2 shape',
        gpt2KeyTable(s),
        (d) => (d['h.1.attn.c_attn.weight'] = { dtype: 'F32', shape: [12, 4], data: new Float32Array(48) }),
        /^model\.safetensors: "h\.1\.attn\.c_attn\.weight": expected shape \[4, 12\] \(from config\.json\), received \[12, 4\]\./,
      ],
      [
        'gpt2 NaN',
        gpt2KeyTable(s),
        (d) => (d['ln_f.bias'] = { dtype: 'F32', shape: [4], data: [0, 0, NaN, 0] }),
        /^model\.safetensors: "ln_f\.bias": expected finite weights, received NaN at index 2\./,
      ],
      [
        'encoder missing',
        torchEncoderKeyTable({ ...s, finalNorm: true }),
        (d) => delete d['norm.weight'],
        /^model\.safetensors: "norm\.weight": expected a tensor of shape \[4\] \(torch nn\.TransformerEncoder layout\), received no such key\./,
      ],
      [
        'encoder shape',
        torchEncoderKeyTable({ ...s, finalNorm: true }),
        (d) => (d['layers.1.linear2.weight'] = { dtype: 'F32', shape: [3, 4], data: new Float32Array(12) }),
        /^model\.safetensors: "layers\.1\.linear2\.weight": expected shape \[4, 3\] \(from config\.json\), received \[3, 4\]\./,
      ],
      [
        'encoder Inf',
        torchEncoderKeyTable({ ...s, finalNorm: true }),
        (d) =>
          (d['layers.0.self_attn.in_proj_bias'] = {
            dtype: 'F32',
            shape: [12],
            data: Float32Array.from({ length: 12 }, (_, i) => (i === 11 ? -Infinity : 0)),
          }),
        /^model\.safetensors: "layers\.0\.self_attn\.in_proj_bias": expected finite weights, received -Infinity at index 11\./,
      ],
    ];
    for (const [label, table, breakIt, message] of cases) {
      const layout = table.layout === 'HF GPT-2' ? gpt2Layout(s, false) : encoderLayout(s, true);
      const dict = stateDict(layout.shapes, 9);
      breakIt(dict);
      const tensors = readSafetensors(writeSafetensors(dict)).tensors;
      await expectNoLeaks(() => {
        const e = thrown(() => readWithKeyTable(tensors, table));
        expect(e, label).toBeInstanceOf(CheckpointError);
        expect(e.message, label).toMatch(message);
      }, label);
    }
  });

  it('a checkpoint of other sizes than the table fails on its first key, naming both shapes', () => {
    const dict = stateDict(gpt2Layout({ ...s, dModel: 2 }, false).shapes, 10);
    expect(() =>
      readWithKeyTable(readSafetensors(writeSafetensors(dict)).tensors, gpt2KeyTable(s), 'gpt2/model.safetensors'),
    ).toThrow(
      /^gpt2\/model\.safetensors: "wte\.weight": expected shape \[5, 4\] \(from config\.json\), received \[5, 2\]\./,
    );
  });

  it('both layouts fill the same tree: GPT-2 layers written as an encoder state dict read back to the same leaves', () => {
    const read = readWithKeyTable(
      readSafetensors(writeSafetensors(stateDict(gpt2Layout(s, false).shapes, 12))).tensors,
      gpt2KeyTable(s),
    );
    const encoder = torchEncoderKeyTable({ ...s, finalNorm: true });
    const asEncoder = readWithKeyTable(
      readSafetensors(writeSafetensors(writeWithKeyTable(read.leaves, encoder))).tensors,
      encoder,
    );
    expect([...asEncoder.leaves.keys()].sort()).toEqual(
      [...read.leaves.keys()].filter((p) => !p.startsWith('embeddings.')).sort(),
    );
    for (const [p, t] of asEncoder.leaves) expect(t.arraySync(), p).toEqual(read.leaves.get(p)!.arraySync());
    tf.dispose([...read.leaves.values(), ...asEncoder.leaves.values()]);
  });

  it('writeWithKeyTable refuses a tree of another layout or size', () => {
    const dict = stateDict(gpt2Layout(s, false).shapes, 11);
    const read = readWithKeyTable(readSafetensors(writeSafetensors(dict)).tensors, gpt2KeyTable(s));
    expect(() => writeWithKeyTable(read.leaves, gpt2KeyTable({ ...s, layers: 3 }))).toThrow(
      /^write HF GPT-2: "h\.2\.ln_1\.weight": expected parameter "layers\.2\.norm1\.gamma", received nothing at that path\./,
    );
    expect(() => writeWithKeyTable(read.leaves, gpt2KeyTable({ ...s, dFeedforward: 5 }))).toThrow(
      /^write HF GPT-2: "h\.0\.mlp\.c_fc\.weight": expected shape \[4, 5\], received \[4, 3\]\./,
    );
    tf.dispose([...read.leaves.values()]);
  });
});
