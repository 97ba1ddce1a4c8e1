/**
 * A `.safetensors` reader and writer written from the format (docs/checkpoints.md): an 8-byte little-endian header
 * length, a JSON header `{ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__? }`, then raw
 * little-endian data. Reads F32, F16, BF16, F64 (as float32) and I64, I32 (as int32, range-checked); writes
 * F32, I32 and I64. Every malformation is a {@link CheckpointError} naming the file and the tensor.
 */
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
}

const BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4 };

function fail(file: string, what: string, expected: string, received: string, fix: string): never {
  throw new CheckpointError(`${file}${what === '' ? '' : `: ${what}`}`, { expected, received, fix });
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac === 0 ? sign * Infinity : NaN;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/** Parses safetensors bytes. `file` names the source in errors. */
export function readSafetensors(bytes: Uint8Array, file = '<safetensors>'): SafetensorsFile {
  if (!(bytes instanceof Uint8Array))
    fail(file, '', 'the bytes of a .safetensors file', typeof bytes, 'read the file with fs.readFileSync');
  if (bytes.length < 8)
    fail(
      file,
      '',
      'at least 8 bytes (the header length)',
      `${bytes.length} bytes`,
      'the file is truncated or not a safetensors file',
    );
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > bytes.length - 8 || headerLength > 100_000_000) {
    fail(
      file,
      'header',
      `a header length ≤ ${bytes.length - 8} bytes`,
      `${headerLength}`,
      'the file is truncated or not a safetensors file',
    );
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Record<string, unknown>;
  } catch (e) {
    fail(file, 'header', 'a JSON header', `unparseable JSON (${(e as Error).message})`, 'the file is corrupt');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    fail(file, 'header', 'a JSON object', typeof header, 'the file is corrupt');
  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  const tensors = new Map<string, SafeTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = (entry ?? {}) as Record<string, string>;
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = e?.dtype as SafetensorsDtype;
    if (!(typeof dtype === 'string' && dtype in BYTES)) {
      fail(
        file,
        `tensor "${name}"`,
        'dtype F32, F16, BF16, F64, I64 or I32',
        JSON.stringify(e?.dtype),
        'convert the checkpoint to one of these dtypes',
      );
    }
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((s) => Number.isInteger(s) && s >= 0)) {
      fail(
        file,
        `tensor "${name}"`,
        'a shape of non-negative integers',
        JSON.stringify(shape),
        'the header is corrupt',
      );
    }
    const offsets = e.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0)) {
      fail(file, `tensor "${name}"`, 'data_offsets [begin, end]', JSON.stringify(offsets), 'the header is corrupt');
    }
    const [begin, end] = offsets as [number, number];
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    if (end - begin !== count * BYTES[dtype]) {
      fail(
        file,
        `tensor "${name}"`,
        `${count * BYTES[dtype]} bytes for ${dtype} ${JSON.stringify(shape)}`,
        `${end - begin} bytes (offsets ${begin}…${end})`,
        'the header is corrupt',
      );
    }
    if (end > dataLength)
      fail(
        file,
        `tensor "${name}"`,
        `data up to byte ${end} of the data section`,
        `a data section of ${dataLength} bytes`,
        'the file is truncated; download it again',
      );
    const at = (i: number) => dataStart + begin + i * BYTES[dtype];
    let data: Float32Array | Int32Array;
    switch (dtype) {
      case 'F32':
        data = new Float32Array(count);
        for (let i = 0; i < count; i++) data[i] = view.getFloat32(at(i), true);
        break;
      case 'F64':
        data = new Float32Array(count);
        for (let i = 0; i < count; i++) data[i] = view.getFloat64(at(i), true);
        break;
      case 'F16':
        data = new Float32Array(count);
        for (let i = 0; i < count; i++) data[i] = halfToFloat(view.getUint16(at(i), true));
        break;
      case 'BF16': {
        data = new Float32Array(count);
        const word = new DataView(new ArrayBuffer(4));
        for (let i = 0; i < count; i++) {
          word.setUint32(0, view.getUint16(at(i), true) << 16, true);
          data[i] = word.getFloat32(0, true);
        }
        break;
      }
      case 'I32':
        data = new Int32Array(count);
        for (let i = 0; i < count; i++) data[i] = view.getInt32(at(i), true);
        break;
      case 'I64':
        data = new Int32Array(count);
        for (let i = 0; i < count; i++) {
          const v = view.getBigInt64(at(i), true);
          if (v > 2147483647n || v < -2147483648n)
            fail(
              file,
              `tensor "${name}"`,
              'int64 values within the int32 range',
              `${v} at index ${i}`,
              'token ids and indices must fit in int32',
            );
          data[i] = Number(v);
        }
        break;
    }
    tensors.set(name, { dtype, shape: shape as number[], data });
  }
  return { tensors, metadata };
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
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) {
      throw new CheckpointError(`writeSafetensors: tensor "${name}"`, {
        expected: `${count} values for shape [${t.shape.join(', ')}]`,
        received: `${t.data.length}`,
        fix: 'match the data to the shape',
      });
    }
    const size = count * BYTES[t.dtype];
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + size] };
    offset += size;
  }
  if (Object.keys(metadata).length > 0) header['__metadata__'] = metadata;
  const json = new TextEncoder().encode(JSON.stringify(header));
  const head = new Uint8Array(json.length + ((8 - (json.length % 8)) % 8)).fill(0x20); // pad with spaces to 8 bytes
  head.set(json);
  const out = new Uint8Array(8 + head.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const t of Object.values(tensors)) {
    for (let i = 0; i < t.data.length; i++) {
      const v = t.data[i]!;
      if (t.dtype === 'F32') view.setFloat32(at, v, true);
      else if (t.dtype === 'I32') view.setInt32(at, v, true);
      else view.setBigInt64(at, BigInt(Math.trunc(v)), true);
      at += BYTES[t.dtype];
    }
  }
  return out;
}
