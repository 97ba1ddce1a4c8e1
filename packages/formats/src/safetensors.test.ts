import { describe, expect, it } from 'vitest';
import { CheckpointError } from './errors.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';

/** Builds a file by hand: header JSON + raw bytes (independent of writeSafetensors). */
function handMade(header: Record<string, unknown>, data: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe('safetensors', () => {
  it('round-trips F32, I32 and I64 with metadata, header padded to 8 bytes', () => {
    const bytes = writeSafetensors(
      {
        a: { dtype: 'F32', shape: [2, 2], data: [1, -2.5, 3e-8, 4e6] },
        ids: { dtype: 'I64', shape: [3], data: [0, 50256, -7] },
        n: { dtype: 'I32', shape: [], data: [42] },
      },
      { note: 'π' },
    );
    expect(Number(new DataView(bytes.buffer).getBigUint64(0, true)) % 8).toBe(0);
    const f = readSafetensors(bytes);
    expect(f.metadata).toEqual({ note: 'π' });
    expect(Array.from(f.tensors.get('a')!.data)).toEqual([1, -2.5, Math.fround(3e-8), 4e6]);
    expect(f.tensors.get('ids')).toMatchObject({ dtype: 'I64', shape: [3] });
    expect(Array.from(f.tensors.get('ids')!.data)).toEqual([0, 50256, -7]);
    expect(Array.from(f.tensors.get('n')!.data)).toEqual([42]);
  });

  it('reads F16, BF16 and F64 as float32', () => {
    const raw = new Uint8Array(2 * 3 + 2 * 2 + 8);
    const v = new DataView(raw.buffer);
    v.setUint16(0, 0x3c00, true); // 1.0
    v.setUint16(2, 0xc000, true); // -2.0
    v.setUint16(4, 0x0001, true); // smallest subnormal 2^-24
    v.setUint16(6, 0x3f80, true); // bf16 1.0
    v.setUint16(8, 0xc0a0, true); // bf16 -5.0
    v.setFloat64(10, Math.PI, true);
    const f = readSafetensors(
      handMade(
        {
          h: { dtype: 'F16', shape: [3], data_offsets: [0, 6] },
          b: { dtype: 'BF16', shape: [2], data_offsets: [6, 10] },
          d: { dtype: 'F64', shape: [1], data_offsets: [10, 18] },
        },
        raw,
      ),
    );
    expect(Array.from(f.tensors.get('h')!.data)).toEqual([1, -2, Math.fround(2 ** -24)]);
    expect(Array.from(f.tensors.get('b')!.data)).toEqual([1, -5]);
    expect(f.tensors.get('d')!.data[0]).toBeCloseTo(Math.PI, 6);
  });

  it('names the file and the tensor for every malformation', () => {
    expect(() => readSafetensors(new Uint8Array(3), 'x.st')).toThrow(/x\.st: expected at least 8 bytes/);
    const good = writeSafetensors({ a: { dtype: 'F32', shape: [4], data: [1, 2, 3, 4] } });
    expect(() => readSafetensors(good.subarray(0, good.length - 4), 'cut.st')).toThrow(
      /cut\.st: tensor "a": expected data up to byte 16.*truncated/,
    );
    expect(() => readSafetensors(good.subarray(0, 12), 'cut.st')).toThrow(/cut\.st: header: expected a header length/);
    expect(() =>
      readSafetensors(handMade({ a: { dtype: 'U8', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)), 'u8.st'),
    ).toThrow(/tensor "a": expected dtype F32, F16, BF16, F64, I64 or I32, received "U8"/);
    expect(() =>
      readSafetensors(handMade({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8))),
    ).toThrow(/expected 12 bytes for F32 \[3\], received 8 bytes/);
    expect(() =>
      readSafetensors(handMade({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4))),
    ).toThrow(CheckpointError);
    const big = new Uint8Array(8);
    new DataView(big.buffer).setBigInt64(0, 2n ** 40n, true);
    expect(() =>
      readSafetensors(handMade({ i: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, big), 'ids.st'),
    ).toThrow(/ids\.st: tensor "i": expected int64 values within the int32 range/);
    const notJson = new Uint8Array(16);
    new DataView(notJson.buffer).setBigUint64(0, 8n, true);
    notJson.set(new TextEncoder().encode('{{{{{{{{'), 8);
    expect(() => readSafetensors(notJson, 'j.st')).toThrow(
      /j\.st: header: expected a JSON header, received unparseable JSON/,
    );
  });
});
