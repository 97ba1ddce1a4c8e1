// The safetensors reader and writer (docs/checkpoints.md). The malformed files here are built by hand, so the
// reader's rules are checked against the format, not against the writer; the fixture-based regressions and the
// fuzz test are in safetensors.node.test.ts (they read the committed fixture with node:fs).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { thrownBy } from '@tide/backend/testing';
import { CheckpointError } from './errors.js';
import { readSafetensors, writeSafetensors, type TensorToWrite } from './safetensors.js';

/** Builds a file by hand: header JSON (an object, or its text) + raw bytes (independent of writeSafetensors). */
function handMade(header: Record<string, unknown> | string, data: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
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
      /cut\.st: tensor "a": expected data_offsets within the data section of 12 bytes, received \[0, 16\]\. Fix: the file is truncated/,
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

  it('reads zero-size tensors where the reference does: at any boundary of the tiling, even several at one', () => {
    const f = readSafetensors(
      handMade(
        {
          first: { dtype: 'F32', shape: [0], data_offsets: [0, 0] },
          a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
          between: { dtype: 'I32', shape: [2, 0], data_offsets: [4, 4] },
          again: { dtype: 'F16', shape: [0, 2 ** 52, 2 ** 52], data_offsets: [4, 4] },
          b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] },
          last: { dtype: 'F64', shape: [3, 0], data_offsets: [8, 8] },
        },
        new Uint8Array(8),
      ),
    );
    expect([...f.tensors.keys()]).toEqual(['first', 'a', 'between', 'again', 'b', 'last']);
    expect(f.tensors.get('between')).toMatchObject({ shape: [2, 0], data: new Int32Array(0) });
    expect(f.tensors.get('last')!.data.length).toBe(0);
    // A file of zero-size tensors only, and an empty header: an empty data section.
    expect(
      readSafetensors(handMade({ e: { dtype: 'F32', shape: [0], data_offsets: [0, 0] } }, new Uint8Array(0))).tensors
        .size,
    ).toBe(1);
    expect(readSafetensors(handMade({}, new Uint8Array(0))).tensors.size).toBe(0);
    // Inside another tensor's bytes it overlaps it, as in the reference.
    expect(() =>
      readSafetensors(
        handMade(
          {
            a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
            z: { dtype: 'F32', shape: [0], data_offsets: [4, 4] },
          },
          new Uint8Array(8),
        ),
      ),
    ).toThrow(
      /tensor "z": expected data_offsets beginning at 8 \(where tensor "a" \[0, 8\] ends\), received \[4, 4\], overlapping tensor "a"/,
    );
  });

  it('requires the data_offsets to tile the data section exactly, naming the tensor and both offsets', () => {
    const f32 = (begin: number, n = 1) => ({ dtype: 'F32', shape: [n], data_offsets: [begin, begin + 4 * n] });
    const message = (header: Record<string, unknown>, length: number) =>
      thrownBy(() => readSafetensors(handMade(header, new Uint8Array(length)), 't.st')).message;
    expect(message({ a: f32(4) }, 8)).toBe(
      't.st: tensor "a": expected data_offsets beginning at 0 (the start of the data section), received [4, 8], leaving bytes [0, 4) that no tensor owns. Fix: the header length or the data_offsets are wrong: the file is corrupt',
    );
    expect(message({ a: f32(0), b: f32(8) }, 12)).toMatch(
      /^t\.st: tensor "b": expected data_offsets beginning at 4 \(where tensor "a" \[0, 4\] ends\), received \[8, 12\], leaving bytes \[4, 8\) that no tensor owns\./,
    );
    expect(message({ a: f32(0, 2), b: f32(4, 2) }, 12)).toMatch(
      /tensor "b": expected data_offsets beginning at 8 \(where tensor "a" \[0, 8\] ends\), received \[4, 12\], overlapping tensor "a" \[0, 8\]\./,
    );
    expect(message({ a: f32(0), b: f32(0) }, 4)).toMatch(
      /tensor "b": expected data_offsets beginning at 4 \(where tensor "a" \[0, 4\] ends\), received \[0, 4\], the same bytes as tensor "a"\./,
    );
    expect(message({ a: f32(0) }, 8)).toBe(
      't.st: tensor "a": expected data_offsets ending at 8, the end of the data section (the last tensor), received [0, 4], leaving bytes [4, 8) that no tensor owns. Fix: the header length or the data_offsets are wrong: the file is corrupt',
    );
    expect(message({}, 4)).toMatch(
      /^t\.st: header: expected tensors covering the data section of 4 bytes, received no tensors\./,
    );
    expect(message({ a: { dtype: 'F32', shape: [1], data_offsets: [8, 4] } }, 8)).toMatch(
      /tensor "a": expected data_offsets \[begin, end\] with begin ≤ end, received \[8, 4\]/,
    );
    // Any order in the header: the tiling is checked sorted by offsets, and the tensors come back in header order.
    const f = readSafetensors(handMade({ b: f32(4), a: f32(0) }, new Uint8Array(8)));
    expect([...f.tensors.keys()]).toEqual(['b', 'a']);
  });

  it('describes deeply nested values shallowly: 5,000 levels in any field is a CheckpointError, not a stack overflow', () => {
    const deep = '['.repeat(5000) + ']'.repeat(5000);
    const deepObject = '{"a":'.repeat(5000) + '1' + '}'.repeat(5000);
    const entry = (field: string, value: string) => {
      const fields: Record<string, string> = { dtype: '"F32"', shape: '[1]', data_offsets: '[0, 4]', [field]: value };
      return `{${Object.entries(fields)
        .map(([k, v]) => `"${k}": ${v}`)
        .join(', ')}}`;
    };
    const headers = [
      ...['dtype', 'shape', 'data_offsets'].flatMap((field) => [
        `{"a": ${entry(field, deep)}}`,
        `{"a": ${entry(field, deepObject)}}`,
        `{"a": ${entry(field, `[${deep}, 1]`)}}`,
      ]),
      `{"a": ${deep}}`,
      `{"a": ${entry('dtype', '"F32"')}, "__metadata__": ${deep}}`,
      `{"a": ${entry('dtype', '"F32"')}, "__metadata__": {"k": ${deepObject}}}`,
      deep,
    ];
    for (const header of headers) {
      const e = thrownBy(() => readSafetensors(handMade(header, new Uint8Array(4)), 'deep.st'));
      expect(e, header.slice(0, 60)).toBeInstanceOf(CheckpointError);
      expect(e.message.length, e.message).toBeLessThan(400);
    }
    expect(
      thrownBy(() => readSafetensors(handMade(`{"a": ${entry('shape', deep)}}`, new Uint8Array(4)))).message,
    ).toMatch(
      /tensor "a": expected a shape of at most 8 non-negative integers, received \[an array of length 1\] \(dimension 0 is an array of length 1\)/,
    );
  });

  it('looks up dtypes among its own keys only: "toString", "constructor" and "__proto__" are not dtypes', () => {
    for (const dtype of ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf']) {
      const e = thrownBy(() =>
        readSafetensors(handMade({ a: { dtype, shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)), 'p.st'),
      );
      expect(e).toBeInstanceOf(CheckpointError);
      expect(e.message).toBe(
        `p.st: tensor "a": expected dtype F32, F16, BF16, F64, I64 or I32, received "${dtype}". Fix: convert the checkpoint to one of these dtypes`,
      );
    }
    // Fields inherited from Object.prototype are not fields: an entry without its own "shape" has none.
    expect(() =>
      readSafetensors(handMade('{"a": {"dtype": "F32", "data_offsets": [0, 4]}}', new Uint8Array(4))),
    ).toThrow(/tensor "a": expected a shape of at most 8 non-negative integers, received undefined/);
    // A tensor named "__proto__" is a tensor like any other.
    const f = readSafetensors(
      handMade('{"__proto__": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}', new Uint8Array(4)),
    );
    expect([...f.tensors.keys()]).toEqual(['__proto__']);
  });

  it('requires __metadata__ to be an object of string → string (null, as in the reference, is none)', () => {
    const a = { dtype: 'F32', shape: [1], data_offsets: [0, 4] };
    const read = (metadata: unknown) =>
      readSafetensors(handMade({ a, __metadata__: metadata }, new Uint8Array(4)), 'm.st');
    expect(read({ format: 'pt', note: '' }).metadata).toEqual({ format: 'pt', note: '' });
    expect(read(null).metadata).toEqual({});
    const cases: [unknown, string][] = [
      ['pt', '"pt"'],
      [['a', 'b'], '["a", "b"]'],
      [3, '3'],
      [{ format: 'pt', n: 3 }, '"n" → 3'],
      [{ nested: { a: 1 } }, '"nested" → an object with 1 key(s)'],
      [{ list: [1, [2]] }, '"list" → [1, an array of length 1]'],
    ];
    for (const [metadata, received] of cases)
      expect(thrownBy(() => read(metadata)).message).toBe(
        `m.st: __metadata__: expected an object of string → string, received ${received}. Fix: the header is corrupt; __metadata__ holds only strings`,
      );
    // Own keys only, a "__proto__" key included, in a fresh object.
    const m = readSafetensors(
      handMade('{"__metadata__": {"__proto__": "x", "toString": "y"}}', new Uint8Array(0)),
    ).metadata;
    expect(Object.keys(m)).toEqual(['__proto__', 'toString']);
    expect(Object.getPrototypeOf(m)).toBe(Object.prototype);
  });

  it('requires a shape of at most 8 non-negative safe integers with a safe product matching the byte count', () => {
    const shaped = (shape: unknown, bytes = 4) =>
      thrownBy(() =>
        readSafetensors(handMade({ a: { dtype: 'F32', shape, data_offsets: [0, bytes] } }, new Uint8Array(bytes))),
      ).message;
    expect(shaped([-1])).toMatch(
      /expected a shape of at most 8 non-negative integers, received \[-1\] \(dimension 0 is -1\)/,
    );
    expect(shaped([1, 1.5])).toMatch(/received \[1, 1\.5\] \(dimension 1 is 1\.5\)/);
    expect(shaped(['1'])).toMatch(/received \["1"\] \(dimension 0 is "1"\)/);
    expect(shaped([1e300])).toMatch(/\(dimension 0 is 1e\+300\)/);
    expect(shaped([2 ** 53])).toMatch(/\(dimension 0 is 9007199254740992\)/);
    expect(shaped(4)).toMatch(/expected a shape of at most 8 non-negative integers, received 4\./);
    expect(shaped([1, 1, 1, 1, 1, 1, 1, 1, 1])).toMatch(
      /at most 8 .*received \[1, 1, 1, 1, 1, 1, 1, 1, … \(9 items\)\]/,
    );
    expect(shaped([2 ** 30, 2 ** 30, 2 ** 30])).toMatch(
      /expected a shape of at most 2\^53 − 1 elements, received \[1073741824, 1073741824, 1073741824\]/,
    );
    // Safe as elements, not as bytes: 2^52 float32 values are 2^54 bytes.
    expect(shaped([2 ** 52])).toMatch(
      /expected 18014398509481984 bytes for F32 \[4503599627370496\], received 4 bytes/,
    );
    const rank8 = [1, 1, 1, 1, 1, 1, 1, 1];
    const read = readSafetensors(
      handMade({ a: { dtype: 'F32', shape: rank8, data_offsets: [0, 4] } }, new Uint8Array(4)),
    );
    expect(read.tensors.get('a')!.shape).toEqual(rank8);
  });

  it('refuses a header that is not UTF-8, not an object, or longer than the file', () => {
    const bad = handMade('{"a"}', new Uint8Array(0));
    bad.set([0xff], 9);
    expect(() => readSafetensors(bad, 'u.st')).toThrow(
      /^u\.st: header: expected UTF-8 JSON, received bytes that are not UTF-8\./,
    );
    expect(() => readSafetensors(handMade('[1, 2]', new Uint8Array(0)), 'a.st')).toThrow(
      /^a\.st: header: expected a JSON object .*, received \[1, 2\]\./,
    );
    const long = handMade({}, new Uint8Array(0));
    new DataView(long.buffer).setBigUint64(0, 2n ** 64n - 1n, true);
    expect(() => readSafetensors(long, 'l.st')).toThrow(
      /^l\.st: header: expected a header length ≤ 2 bytes \(the bytes after it\), received 18446744073709551615\./,
    );
    expect(() => readSafetensors('bytes' as never, 's.st')).toThrow(
      /^s\.st: expected the bytes of a \.safetensors file, received "bytes"/,
    );
  });

  it('decodes only the tensors named in `only`, still validating the others', () => {
    const bytes = handMade(
      {
        a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
        mask: { dtype: 'BOOL', shape: [4], data_offsets: [4, 8] },
        b: { dtype: 'I32', shape: [1], data_offsets: [8, 12] },
      },
      new Uint8Array([0, 0, 128, 63, 1, 0, 1, 0, 7, 0, 0, 0]),
    );
    const f = readSafetensors(bytes, 'o.st', { only: ['b', 'absent'] });
    expect([...f.tensors.keys()]).toEqual(['b']);
    expect(f.names).toEqual(['a', 'mask', 'b']); // every name of the header, decoded or not
    expect(Array.from(f.tensors.get('b')!.data)).toEqual([7]);
    expect(readSafetensors(bytes, 'o.st', { only: [] }).tensors.size).toBe(0);
    // A dtype TIDE does not decode is refused where it is decoded.
    expect(() => readSafetensors(bytes, 'o.st')).toThrow(
      /^o\.st: tensor "mask": expected dtype F32, F16, BF16, F64, I64 or I32, received "BOOL"/,
    );
    expect(() => readSafetensors(bytes, 'o.st', { only: ['mask'] })).toThrow(/tensor "mask": expected dtype F32/);
    // A bad tensor that is not decoded still fails the header check.
    const broken = handMade(
      { a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [-2], data_offsets: [4, 8] } },
      new Uint8Array(8),
    );
    expect(() => readSafetensors(broken, 'o.st', { only: ['a'] })).toThrow(/tensor "b": expected a shape/);
    expect(() => readSafetensors(bytes, 'o.st', { only: 'a' as never })).toThrow(
      /^o\.st: option only: expected an array of tensor names, received "a"/,
    );
  });

  it('round-trips random F32, I32 and I64 tensors and metadata exactly (property)', () => {
    const dims = fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 });
    const tensor: fc.Arbitrary<TensorToWrite> = fc.oneof(
      dims.chain((shape) =>
        fc.record({
          dtype: fc.constant('F32' as const),
          shape: fc.constant(shape),
          data: fc.array(fc.float(), { minLength: size(shape), maxLength: size(shape) }),
        }),
      ),
      dims.chain((shape) =>
        fc.record({
          dtype: fc.constantFrom('I32' as const, 'I64' as const),
          shape: fc.constant(shape),
          data: fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), {
            minLength: size(shape),
            maxLength: size(shape),
          }),
        }),
      ),
    );
    const name = fc.oneof(fc.string(), fc.constantFrom('__proto__', 'toString', 'constructor', ''));
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(name, tensor), { selector: ([n]) => n, maxLength: 6 }),
        fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }),
        (entries, metadata) => {
          const tensors = Object.fromEntries(entries.filter(([n]) => n !== '__metadata__'));
          const f = readSafetensors(writeSafetensors(tensors, metadata));
          expect([...f.tensors.keys()].sort()).toEqual(Object.keys(tensors).sort());
          for (const [n, t] of Object.entries(tensors)) {
            const back = f.tensors.get(n)!;
            expect(back.dtype).toBe(t.dtype);
            expect(back.shape).toEqual(t.shape);
            const exact = t.dtype === 'F32' ? Array.from(t.data, Math.fround) : Array.from(t.data);
            expect(Array.from(back.data).every((v, i) => Object.is(v, exact[i]))).toBe(true);
            expect(back.data.length).toBe(t.data.length);
          }
          expect(f.metadata).toEqual({ ...metadata });
        },
      ),
      { seed: 7, numRuns: 200 },
    );
  });

  it('refuses to write what it could not read back', () => {
    const write = (tensors: Record<string, unknown>, metadata?: Record<string, unknown>) =>
      thrownBy(() => writeSafetensors(tensors as never, metadata as never)).message;
    expect(write({ __metadata__: { dtype: 'F32', shape: [1], data: [1] } })).toMatch(
      /^writeSafetensors: tensor "__metadata__": expected a tensor name other than __metadata__/,
    );
    expect(write({ a: { dtype: 'F16', shape: [1], data: [1] } })).toMatch(
      /tensor "a": expected .* dtype F32, I32 or I64, received dtype "F16"/,
    );
    expect(write({ a: { dtype: 'F32', shape: [3], data: [1, 2] } })).toMatch(
      /tensor "a": expected 3 values .*, received 2 values, shape \[3\]/,
    );
    expect(write({ a: { dtype: 'F32', shape: [-1], data: [] } })).toMatch(/received 0 values, shape \[-1\]/);
    expect(write({ a: { dtype: 'I32', shape: [2], data: [1, 2 ** 31] } })).toMatch(
      /tensor "a": expected int32 values, received 2147483648 at index 1/,
    );
    expect(write({ a: { dtype: 'I64', shape: [1], data: [NaN] } })).toMatch(
      /tensor "a": expected integer values, received NaN at index 0/,
    );
    expect(write({}, { n: 3 })).toMatch(/^writeSafetensors: __metadata__ "n": expected a string value, received 3/);
  });
});

/** The number of elements of a shape. */
function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
