/**
 * A `.safetensors` reader and writer written from the format (docs/checkpoints.md): an 8-byte little-endian header
 * length, a JSON header `{ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__? }`, then raw
 * little-endian data. Reads F32, F16, BF16, F64 (as float32) and I64, I32 (as int32, range-checked); writes
 * F32, I32 and I64.
 *
 * The header is validated completely before any tensor is decoded, with the rules of the reference implementation
 * (`huggingface/safetensors`): at most {@link MAX_HEADER_BYTES} bytes of UTF-8 JSON, and `data_offsets` that tile
 * the data section exactly. Every malformation is a {@link CheckpointError} naming the file and the tensor;
 * values taken from the file are described one level deep ({@link describeJson}), never stringified whole.
 */
import { formatShape } from '@tide/backend';
import { CheckpointError } from './errors.js';

/** The dtypes of the format that TIDE reads. */
export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32';

/** One tensor as read: float dtypes become Float32Array, integer dtypes Int32Array. */
export interface SafeTensor {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly data: Float32Array | Int32Array;
}

/** A parsed file: tensors by name, plus the free-form metadata. */
export interface SafetensorsFile {
  readonly tensors: ReadonlyMap<string, SafeTensor>;
  readonly metadata: Readonly<Record<string, string>>;
  /** Every tensor name of the header, in header order (also those not decoded because of `only`). */
  readonly names: readonly string[];
}

/** Options of {@link readSafetensors} (and `readSafetensorsFile`). */
export interface ReadSafetensorsOptions {
  /**
   * Decode only the tensors with these names. The header is still validated whole (every tensor's dtype, shape
   * and offsets); a name the file lacks is simply absent from the result.
   */
  readonly only?: readonly string[];
}

/** The largest header accepted, in bytes: the reference implementation's `MAX_HEADER_SIZE`. */
export const MAX_HEADER_BYTES = 100_000_000;

/**
 * The largest rank accepted. TIDE's tensors have rank ≤ 4 (`[B, H, N, dk]`); 8 leaves room for any checkpoint
 * it reads, bounds the work of checking one shape, and refuses shapes that only a corrupt header would hold.
 */
export const MAX_RANK = 8;

/** Bytes per element of the reference implementation's dtypes: TIDE decodes six (READABLE), validates all. */
const DTYPE_BYTES: Readonly<Record<string, number>> = {
  F32: 4,
  F16: 2,
  BF16: 2,
  F64: 8,
  I64: 8,
  I32: 4,
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  U32: 4,
  U64: 8,
};
const READABLE: readonly string[] = ['F32', 'F16', 'BF16', 'F64', 'I64', 'I32'] satisfies SafetensorsDtype[];
const READABLE_TEXT = 'dtype F32, F16, BF16, F64, I64 or I32';

function fail(file: string, what: string, expected: string, received: string, fix: string): never {
  throw new CheckpointError(`${file}${what === '' ? '' : `: ${what}`}`, { expected, received, fix });
}

/** A value's own property (never one inherited from `Object.prototype`, such as `toString`). */
function own(o: object, key: string): unknown {
  return Object.hasOwn(o, key) ? (o as Record<string, unknown>)[key] : undefined;
}

const isObject = (v: unknown): v is object => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A string from a file, quoted and cut to `max` characters. */
function quote(s: string, max = 80): string {
  return JSON.stringify(s.length > max ? `${s.slice(0, max)}…` : s);
}

/** One JSON value, not looking inside arrays or objects. */
function describeScalar(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  switch (typeof v) {
    case 'string':
      return quote(v, 40);
    case 'number':
    case 'boolean':
      return String(v);
    case 'object':
      return `an object with ${Object.keys(v).length} key(s)`;
    default:
      return typeof v;
  }
}

/**
 * A short description of a value read from a file, for an error message: a scalar as itself, an array by its first
 * 8 items described one level deep. Never recursive, so a header nested 5,000 levels deep cannot overflow the stack.
 */
export function describeJson(value: unknown): string {
  if (!Array.isArray(value)) return describeScalar(value);
  const items = value.slice(0, 8).map(describeScalar);
  return `[${items.join(', ')}${value.length > 8 ? `, … (${value.length} items)` : ''}]`;
}

/**
 * One tensor as the header declares it, validated: `count` elements of `dtype` (`count` = product of `shape`) in
 * bytes `[begin, end)` of the data section. Internal: shared by the readers of bytes and of files.
 */
export interface TensorExtent {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly count: number;
  readonly begin: number;
  readonly end: number;
}

/** A validated header: its tensors in header order, and the metadata. Internal. */
export interface SafetensorsHeader {
  readonly tensors: readonly TensorExtent[];
  readonly metadata: Readonly<Record<string, string>>;
}

/**
 * The header length n, from the first 8 bytes of a file of `fileLength` bytes: checks that the file has them, that
 * n ≤ {@link MAX_HEADER_BYTES} and that the header fits in the file. Internal.
 */
export function headerLengthOf(prefix: Uint8Array, fileLength: number, file: string): number {
  if (fileLength < 8 || prefix.length < 8)
    fail(
      file,
      '',
      'at least 8 bytes (the header length)',
      `${fileLength} bytes`,
      'the file is truncated or not a safetensors file',
    );
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  const limit = Math.min(fileLength - 8, MAX_HEADER_BYTES);
  const why = limit === MAX_HEADER_BYTES ? "the format's limit" : 'the bytes after it';
  if (n > BigInt(limit))
    fail(
      file,
      'header',
      `a header length ≤ ${limit} bytes (${why})`,
      `${n}`,
      'the file is truncated or not a safetensors file',
    );
  return Number(n);
}

/**
 * Validates a header (its bytes, after the 8-byte length) for a data section of `dataLength` bytes, before anything
 * is decoded: UTF-8 JSON, an object of tensor entries and an optional `__metadata__` of string → string; each
 * entry a known dtype, a shape of at most {@link MAX_RANK} non-negative integers whose product is a safe integer,
 * and `end − begin` = dtype size × product; and the entries, sorted by `[begin, end]`, tile the data section:
 * the first begins at 0, each begins where the previous ends, the last ends at `dataLength` (zero-size tensors,
 * `begin = end`, sit at any boundary, as in the reference). Internal.
 */
export function parseSafetensorsHeader(headerBytes: Uint8Array, dataLength: number, file: string): SafetensorsHeader {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    fail(file, 'header', 'UTF-8 JSON', 'bytes that are not UTF-8', 'the file is corrupt or not a safetensors file');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    fail(
      file,
      'header',
      'a JSON header',
      `unparseable JSON (${String((e as Error).message).slice(0, 160)})`,
      'the file is corrupt',
    );
  }
  if (!isObject(header))
    fail(
      file,
      'header',
      'a JSON object { name: { dtype, shape, data_offsets } }',
      describeJson(header),
      'the file is corrupt',
    );
  const tensors: TensorExtent[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') metadata = checkMetadata(entry, file);
    else tensors.push(checkEntry(name, entry, file));
  }
  checkTiling(tensors, dataLength, file);
  return { tensors, metadata };
}

/** `__metadata__`: an object of string → string (`null`, which the reference reads as absent, is no metadata). */
function checkMetadata(entry: unknown, file: string): Record<string, string> {
  if (entry === null) return {};
  const fix = 'the header is corrupt; __metadata__ holds only strings';
  if (!isObject(entry)) fail(file, '__metadata__', 'an object of string → string', describeJson(entry), fix);
  const pairs = Object.entries(entry);
  for (const [key, value] of pairs)
    if (typeof value !== 'string')
      fail(file, '__metadata__', 'an object of string → string', `${quote(key)} → ${describeJson(value)}`, fix);
  return Object.fromEntries(pairs) as Record<string, string>;
}

/** A non-negative safe integer: a dimension or a byte offset. */
const isNatural = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** One tensor entry of the header: its fields checked before any of them is used. */
function checkEntry(name: string, entry: unknown, file: string): TensorExtent {
  const what = `tensor ${quote(name)}`;
  const corrupt = 'the header is corrupt';
  if (!isObject(entry)) fail(file, what, 'an object { dtype, shape, data_offsets }', describeJson(entry), corrupt);
  const dtype = own(entry, 'dtype');
  if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_BYTES, dtype))
    fail(file, what, READABLE_TEXT, describeJson(dtype), 'convert the checkpoint to one of these dtypes');
  const shape = own(entry, 'shape');
  const shapeRule = `a shape of at most ${MAX_RANK} non-negative integers`;
  if (!Array.isArray(shape) || shape.length > MAX_RANK) fail(file, what, shapeRule, describeJson(shape), corrupt);
  let count = 1;
  for (let i = 0; i < shape.length; i++) {
    const d: unknown = shape[i];
    if (!isNatural(d))
      fail(file, what, shapeRule, `${describeJson(shape)} (dimension ${i} is ${describeScalar(d)})`, corrupt);
    count *= d; // exact while ≤ 2^53 − 1; once past it, the check below fires (rounding is monotone)
    if (count > Number.MAX_SAFE_INTEGER)
      fail(file, what, 'a shape of at most 2^53 − 1 elements', describeJson(shape), corrupt);
  }
  const offsets = own(entry, 'data_offsets');
  if (!Array.isArray(offsets) || offsets.length !== 2 || !isNatural(offsets[0]) || !isNatural(offsets[1]))
    fail(file, what, 'data_offsets [begin, end]: two non-negative integers', describeJson(offsets), corrupt);
  const [begin, end] = offsets as [number, number];
  if (end < begin) fail(file, what, 'data_offsets [begin, end] with begin ≤ end', `[${begin}, ${end}]`, corrupt);
  const bytes = count * DTYPE_BYTES[dtype]!;
  if (end - begin !== bytes)
    fail(
      file,
      what,
      `${bytes} bytes for ${dtype} ${formatShape(shape as number[])}`,
      `${end - begin} bytes (data_offsets [${begin}, ${end}])`,
      corrupt,
    );
  return { name, dtype, shape: shape as number[], count, begin, end };
}

const span = (t: TensorExtent) => `[${t.begin}, ${t.end}]`;

/** The reference's rule: sorted by `[begin, end]`, the tensors cover `[0, dataLength)` with no gap and no overlap. */
function checkTiling(tensors: readonly TensorExtent[], dataLength: number, file: string): void {
  const sorted = [...tensors].sort((a, b) => a.begin - b.begin || a.end - b.end);
  const corrupt = 'the header length or the data_offsets are wrong: the file is corrupt';
  let previous: TensorExtent | undefined;
  for (const t of sorted) {
    const start = previous?.end ?? 0;
    if (t.begin !== start) {
      const where =
        previous === undefined
          ? 'the start of the data section'
          : `where tensor ${quote(previous.name)} ${span(previous)} ends`;
      const how =
        t.begin > start
          ? `leaving bytes [${start}, ${t.begin}) that no tensor owns`
          : t.begin === previous!.begin && t.end === previous!.end
            ? `the same bytes as tensor ${quote(previous!.name)}`
            : `overlapping tensor ${quote(previous!.name)} ${span(previous!)}`;
      fail(
        file,
        `tensor ${quote(t.name)}`,
        `data_offsets beginning at ${start} (${where})`,
        `${span(t)}, ${how}`,
        corrupt,
      );
    }
    previous = t;
  }
  if (previous === undefined) {
    if (dataLength !== 0)
      fail(file, 'header', `tensors covering the data section of ${dataLength} bytes`, 'no tensors', corrupt);
    return;
  }
  if (previous.end > dataLength)
    fail(
      file,
      `tensor ${quote(previous.name)}`,
      `data_offsets within the data section of ${dataLength} bytes`,
      span(previous),
      'the file is truncated; download it again',
    );
  if (previous.end < dataLength)
    fail(
      file,
      `tensor ${quote(previous.name)}`,
      `data_offsets ending at ${dataLength}, the end of the data section (the last tensor)`,
      `${span(previous)}, leaving bytes [${previous.end}, ${dataLength}) that no tensor owns`,
      corrupt,
    );
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac === 0 ? sign * Infinity : NaN;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/** Decodes one tensor from exactly its bytes; `owned`: `raw` is a fresh buffer that the result may keep. */
function decodeTensor(t: TensorExtent, raw: Uint8Array, owned: boolean, file: string): SafeTensor {
  const { count } = t;
  const dtype = t.dtype as SafetensorsDtype;
  if (LITTLE_ENDIAN_HOST && (dtype === 'F32' || dtype === 'I32')) {
    const bytes = owned && raw.byteOffset % 4 === 0 ? raw : raw.slice();
    const data =
      dtype === 'F32'
        ? new Float32Array(bytes.buffer, bytes.byteOffset, count)
        : new Int32Array(bytes.buffer, bytes.byteOffset, count);
    return { dtype, shape: t.shape, data };
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const size = DTYPE_BYTES[dtype]!;
  let data: Float32Array | Int32Array;
  switch (dtype) {
    case 'F32':
      data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getFloat32(i * size, true);
      break;
    case 'F64':
      data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getFloat64(i * size, true);
      break;
    case 'F16':
      data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = halfToFloat(view.getUint16(i * size, true));
      break;
    case 'BF16': {
      data = new Float32Array(count);
      const word = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < count; i++) {
        word.setUint32(0, view.getUint16(i * size, true) << 16, true);
        data[i] = word.getFloat32(0, true);
      }
      break;
    }
    case 'I32':
      data = new Int32Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getInt32(i * size, true);
      break;
    case 'I64':
      data = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const v = view.getBigInt64(i * size, true);
        if (v > 2147483647n || v < -2147483648n)
          fail(
            file,
            `tensor ${quote(t.name)}`,
            'int64 values within the int32 range',
            `${v} at index ${i}`,
            'token ids and indices must fit in int32',
          );
        data[i] = Number(v);
      }
      break;
  }
  return { dtype, shape: t.shape, data };
}

/**
 * Decodes the tensors of a validated header (those named in `options.only`, or all), reading each one's bytes
 * with `bytesAt(begin, length)` (offsets in the data section); `owned`: those bytes are fresh buffers. Every
 * decoded tensor's dtype is checked before the first is read. Internal: shared by the readers of bytes and files.
 */
export function decodeTensors(
  header: SafetensorsHeader,
  options: ReadSafetensorsOptions,
  file: string,
  bytesAt: (begin: number, length: number) => Uint8Array,
  owned: boolean,
): SafetensorsFile {
  const only = options.only;
  if (only !== undefined && !(Array.isArray(only) && only.every((n) => typeof n === 'string')))
    throw new CheckpointError(`${file}: option only`, {
      expected: 'an array of tensor names',
      received: describeJson(only),
      fix: 'pass { only: ["name", …] } or leave it out to read every tensor',
    });
  const names = new Set(only);
  const wanted = only === undefined ? header.tensors : header.tensors.filter((t) => names.has(t.name));
  for (const t of wanted)
    if (!READABLE.includes(t.dtype))
      fail(
        file,
        `tensor ${quote(t.name)}`,
        READABLE_TEXT,
        quote(t.dtype),
        'convert the checkpoint to one of these dtypes',
      );
  const tensors = new Map<string, SafeTensor>();
  for (const t of wanted) {
    try {
      tensors.set(t.name, decodeTensor(t, bytesAt(t.begin, t.end - t.begin), owned, file));
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      fail(
        file,
        `tensor ${quote(t.name)}`,
        `memory for its ${t.count} values`,
        `${e.message}`,
        'read fewer tensors at once (the option only), or run with more memory',
      );
    }
  }
  return { tensors, metadata: header.metadata, names: header.tensors.map((t) => t.name) };
}

/**
 * Parses safetensors bytes. `file` names the source in errors. The header is validated whole first (the rules of
 * {@link parseSafetensorsHeader}); then each tensor (or each in `options.only`) is decoded into its own array.
 */
export function readSafetensors(
  bytes: Uint8Array,
  file = '<safetensors>',
  options: ReadSafetensorsOptions = {},
): SafetensorsFile {
  if (!(bytes instanceof Uint8Array))
    fail(file, '', 'the bytes of a .safetensors file', describeScalar(bytes), 'read the file with fs.readFileSync');
  const n = headerLengthOf(bytes.subarray(0, 8), bytes.length, file);
  const dataStart = 8 + n;
  const header = parseSafetensorsHeader(bytes.subarray(8, dataStart), bytes.length - dataStart, file);
  const at = (begin: number, length: number) => bytes.subarray(dataStart + begin, dataStart + begin + length);
  return decodeTensors(header, options, file, at, false);
}

/** A tensor to write. */
export interface TensorToWrite {
  readonly dtype: 'F32' | 'I32' | 'I64';
  readonly shape: readonly number[];
  readonly data: ArrayLike<number>;
}

/** Serialises tensors (in the given order) to safetensors bytes. */
export function writeSafetensors(
  tensors: Readonly<Record<string, TensorToWrite>>,
  metadata: Record<string, string> = {},
): Uint8Array {
  // A prototype-free object: a tensor named "__proto__" becomes a key like any other.
  const header = Object.create(null) as Record<string, unknown>;
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const subject = `writeSafetensors: tensor ${quote(name)}`;
    if (name === '__metadata__' || !['F32', 'I32', 'I64'].includes(t.dtype))
      throw new CheckpointError(subject, {
        expected: 'a tensor name other than __metadata__, and dtype F32, I32 or I64',
        received: `dtype ${describeScalar(t.dtype)}`,
        fix: 'rename the tensor or convert its data',
      });
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (t.shape.length > MAX_RANK || !t.shape.every(isNatural) || count !== t.data.length) {
      throw new CheckpointError(subject, {
        expected: `${count} values for a shape of at most ${MAX_RANK} non-negative integers`,
        received: `${t.data.length} values, shape ${describeJson(t.shape)}`,
        fix: 'match the data to the shape',
      });
    }
    const size = count * DTYPE_BYTES[t.dtype]!;
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + size] };
    offset += size;
  }
  for (const [key, value] of Object.entries(metadata))
    if (typeof value !== 'string')
      throw new CheckpointError(`writeSafetensors: __metadata__ ${quote(key)}`, {
        expected: 'a string value',
        received: describeScalar(value),
        fix: 'metadata maps strings to strings: convert the value with String()',
      });
  if (Object.keys(metadata).length > 0) header['__metadata__'] = metadata;
  const json = new TextEncoder().encode(JSON.stringify(header));
  const head = new Uint8Array(json.length + ((8 - (json.length % 8)) % 8)).fill(0x20); // pad with spaces to 8 bytes
  head.set(json);
  const out = new Uint8Array(8 + head.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const [name, t] of Object.entries(tensors)) {
    for (let i = 0; i < t.data.length; i++) {
      const v = t.data[i]!;
      if (t.dtype !== 'F32' && !(Number.isSafeInteger(v) && (t.dtype === 'I64' || (v | 0) === v)))
        throw new CheckpointError(`writeSafetensors: tensor ${quote(name)}`, {
          expected: `${t.dtype === 'I32' ? 'int32' : 'integer'} values`,
          received: `${v} at index ${i}`,
          fix: 'round the values, or write the tensor as F32',
        });
      if (t.dtype === 'F32') view.setFloat32(at, v, true);
      else if (t.dtype === 'I32') view.setInt32(at, v, true);
      else view.setBigInt64(at, BigInt(v), true);
      at += DTYPE_BYTES[t.dtype]!;
    }
  }
  return out;
}
