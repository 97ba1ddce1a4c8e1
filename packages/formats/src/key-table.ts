/**
 * Checkpoint layouts as key tables: each row names a checkpoint key, its stored shape, whether it is stored as
 * PyTorch `Linear` (`[out, in]`, transposed to TIDE's `[in, out]` kernels) and the parameter-tree paths it
 * fills (a fused tensor such as `in_proj_weight` or `c_attn` fills several, split into equal parts along its
 * last axis). Reading, writing, training variables and the benchmarks all go through the same table
 * (docs/checkpoints.md), so a layout is written once.
 */
import { tf, describeValue, formatShape, hostTensor } from '@tide/backend';
import { CheckpointError } from './errors.js';
import { firstNonFinite, transposeInto } from './host-arrays.js';
import type { SafeTensor, TensorToWrite } from './safetensors.js';

/** One checkpoint key and the parameter-tree paths it fills. */
export interface KeyTableEntry {
  /** The key in the checkpoint (without a layout prefix such as `transformer.`). */
  readonly key: string;
  /** The shape as stored in the file. */
  readonly shape: readonly number[];
  /** Stored as PyTorch `Linear` `[out, in]`: transposed on read and on write. */
  readonly transpose?: boolean;
  /** Parameter-tree paths; several split the (transposed) tensor into equal parts along its last axis. */
  readonly paths: readonly string[];
  /** An absent optional key leaves its paths unset. */
  readonly optional?: boolean;
  /** The key never carries the layout's prefix (HF's `GPT2LMHeadModel` prefixes `transformer.` but not `lm_head`). */
  readonly unprefixed?: boolean;
}

/** A checkpoint layout. */
export interface KeyTable {
  /** The layout's name, for messages (`"HF GPT-2"`, `"torch nn.TransformerEncoder"`). */
  readonly layout: string;
  readonly entries: readonly KeyTableEntry[];
  /** Keys that may be present and are not parameters (buffers such as GPT-2's `attn.bias`). */
  readonly ignored?: readonly RegExp[];
  /** Prefixes a checkpoint may put before every key (e.g. `transformer.`). */
  readonly prefixes?: readonly string[];
}

/** What {@link readWithKeyTable} found. */
export interface KeyTableRead {
  /** The parameter tensors by tree path (the caller owns them). */
  readonly leaves: Map<string, tf.Tensor>;
  /** Checkpoint keys that no row of the table uses (and no `ignored` pattern matches). */
  readonly unused: readonly string[];
  /** The prefix the checkpoint's keys carried (`''` if none). */
  readonly prefix: string;
}

const sameShape = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((s, i) => s === b[i]);

function checkTable(table: KeyTable): void {
  const seen = new Set<string>();
  for (const e of table.entries) {
    const last = e.transpose ? e.shape[0]! : e.shape[e.shape.length - 1]!;
    if (e.paths.length === 0 || last % e.paths.length !== 0 || (e.transpose && e.shape.length !== 2)) {
      throw new CheckpointError(`key table ${table.layout}: "${e.key}"`, {
        expected: 'at least one path, a last axis divisible by the number of paths, and transpose only for 2-D keys',
        received: `shape ${formatShape(e.shape)}, ${e.paths.length} path(s)`,
        fix: 'fix the key table',
      });
    }
    for (const p of e.paths) {
      if (seen.has(p))
        throw new CheckpointError(`key table ${table.layout}: path "${p}"`, {
          expected: 'each path filled by one key',
          received: 'a path filled twice',
          fix: 'fix the key table',
        });
      seen.add(p);
    }
  }
}

function detectPrefix(tensors: ReadonlyMap<string, SafeTensor>, table: KeyTable): string {
  const first = table.entries.find((e) => !e.optional);
  if (first === undefined || tensors.has(first.key)) return '';
  return table.prefixes?.find((p) => tensors.has(p + first.key)) ?? '';
}

/**
 * Reads the parameters a key table names from a checkpoint's tensors, checking every stored shape and that
 * floating-point weights are finite. On any failure nothing is left allocated. Every error is a
 * {@link CheckpointError} naming `file`, the key, what was expected and what was found.
 */
export function readWithKeyTable(
  tensors: ReadonlyMap<string, SafeTensor>,
  table: KeyTable,
  file = 'model.safetensors',
): KeyTableRead {
  if (!(tensors instanceof Map))
    throw new CheckpointError(file, {
      expected: 'a map of tensors (readSafetensors(...).tensors)',
      received: describeValue(tensors),
      fix: 'parse the file with readSafetensors first',
    });
  checkTable(table);
  const prefix = detectPrefix(tensors, table);
  const used = new Set<string>();
  const leaves = new Map<string, tf.Tensor>();
  // tf.tidy keeps the returned leaves and disposes everything (read so far) when a later key fails.
  tf.tidy(() => {
    for (const e of table.entries) {
      const name = e.unprefixed ? e.key : prefix + e.key;
      const t = tensors.get(name);
      if (t === undefined) {
        if (e.optional) continue;
        throw new CheckpointError(`${file}: "${name}"`, {
          expected: `a tensor of shape ${formatShape(e.shape)} (${table.layout} layout)`,
          received: 'no such key',
          fix: 'the checkpoint does not match its config.json (or is not in the expected layout)',
        });
      }
      used.add(name);
      if (!sameShape(t.shape, e.shape)) {
        throw new CheckpointError(`${file}: "${name}"`, {
          expected: `shape ${formatShape(e.shape)} (from config.json)`,
          received: formatShape(t.shape),
          fix: 'config.json and model.safetensors disagree; fix the config',
        });
      }
      const nonFinite = (data: Float32Array) => {
        const bad = firstNonFinite(data);
        return new CheckpointError(`${file}: "${name}"`, {
          expected: 'finite weights',
          received: `${data[bad]} at index ${bad}`,
          fix: 'the checkpoint is corrupt',
        });
      };
      // [out, in] → [in, out]: float32 matrices are transposed (and checked) on the way into the tensor.
      let value: tf.Tensor;
      const { data } = t;
      if (e.transpose === true && e.shape.length === 2 && data instanceof Float32Array) {
        const [rows, cols] = e.shape as [number, number];
        value = hostTensor([cols, rows], (out) => {
          if (!transposeInto(out, data, rows, cols)) throw nonFinite(data);
        }); // [in, out]
      } else {
        if (data instanceof Float32Array && firstNonFinite(data) >= 0) throw nonFinite(data);
        value = tf.tensor(data, [...e.shape]);
        if (e.transpose === true) value = tf.transpose(value); // [out, in] → [in, out]
      }
      const parts = e.paths.length === 1 ? [value] : tf.split(value, e.paths.length, -1);
      e.paths.forEach((p, i) => leaves.set(p, parts[i]!));
    }
    return [...leaves.values()];
  });
  const ignored = table.ignored ?? [];
  const unused = [...tensors.keys()].filter(
    (k) => !used.has(k) && !ignored.some((r) => r.test(k.startsWith(prefix) ? k.slice(prefix.length) : k)),
  );
  return { leaves, unused, prefix };
}

/**
 * The checkpoint tensors of parameters given by tree path, in a key table's layout (float32; fused keys
 * concatenated, `Linear` kernels transposed back to `[out, in]`). Absent optional rows are skipped; a missing
 * required path or a wrong shape is a {@link CheckpointError}.
 */
export function writeWithKeyTable(
  leaves: ReadonlyMap<string, tf.Tensor>,
  table: KeyTable,
): Record<string, TensorToWrite> {
  checkTable(table);
  const out: Record<string, TensorToWrite> = {};
  for (const e of table.entries) {
    const parts = e.paths.map((p) => leaves.get(p));
    if (parts.every((t) => t === undefined) && e.optional) continue;
    const missing = e.paths.find((_, i) => parts[i] === undefined);
    if (missing !== undefined)
      throw new CheckpointError(`write ${table.layout}: "${e.key}"`, {
        expected: `parameter "${missing}"`,
        received: 'nothing at that path',
        fix: 'write a model of the layout this table describes',
      });
    // The tidy returns the tensor, never its values: tf.tidy walks what it returns element by element (seconds for
    // GPT-2's token embedding, and a reported "Set maximum size exceeded" for a GPT-2-small-shaped save).
    const tensor = tf.tidy(() => {
      let joined = parts.length === 1 ? parts[0]! : tf.concat(parts as tf.Tensor[], -1);
      if (e.transpose) joined = tf.transpose(joined); // [in, out] → [out, in]
      if (!sameShape(joined.shape, e.shape)) {
        throw new CheckpointError(`write ${table.layout}: "${e.key}"`, {
          expected: `shape ${formatShape(e.shape)}`,
          received: formatShape(joined.shape),
          fix: 'the parameters do not match the layout',
        });
      }
      return tf.cast(joined, 'float32');
    });
    let data: Float32Array;
    try {
      const values = tensor.dataSync();
      data = values instanceof Float32Array ? values : Float32Array.from(values);
    } finally {
      tensor.dispose();
    }
    out[e.key] = { dtype: 'F32', shape: [...e.shape], data };
  }
  return out;
}

/** The shape of every parameter a key table fills, by tree path (`[in, out]` for transposed `Linear` kernels). */
export function keyTableShapes(table: KeyTable): Map<string, number[]> {
  checkTable(table);
  const out = new Map<string, number[]>();
  for (const e of table.entries) {
    const shape = e.transpose ? [e.shape[1]!, e.shape[0]!] : [...e.shape];
    shape[shape.length - 1] = shape[shape.length - 1]! / e.paths.length;
    for (const p of e.paths) out.set(p, shape);
  }
  return out;
}

/** Options of {@link readParameterTree}. */
export interface ReadTreeOptions {
  /** Accept checkpoint tensors that the layout does not use (default false: they are an error, listed). */
  readonly allowUnusedTensors?: boolean;
}

/**
 * {@link readWithKeyTable}, strict: a checkpoint tensor the layout does not use is a {@link CheckpointError}
 * listing the first few (a config that describes fewer layers, stages or heads than the weights hold), unless
 * `options.allowUnusedTensors`. Returns the leaves by tree path (the caller owns them; nothing survives a throw).
 */
export function readParameterTree(
  tensors: ReadonlyMap<string, SafeTensor>,
  table: KeyTable,
  source = 'model.safetensors',
  options: ReadTreeOptions = {},
): Map<string, tf.Tensor> {
  const read = readWithKeyTable(tensors, table, source);
  if (read.unused.length > 0 && !options?.allowUnusedTensors) {
    for (const t of read.leaves.values()) t.dispose();
    const shown = read.unused
      .slice(0, 5)
      .map((k) => `"${k}"`)
      .join(', ');
    throw new CheckpointError(
      `${source}: ${shown}${read.unused.length > 5 ? ` and ${read.unused.length - 5} more` : ''}`,
      {
        expected: `only the tensors of the ${table.layout} layout that config.json describes`,
        received: `${read.unused.length} unused tensor(s)`,
        fix: 'fix config.json (number of layers, stages, final norm, …) so that it matches the weights, or allow unused tensors explicitly',
      },
    );
  }
  return read.leaves;
}
