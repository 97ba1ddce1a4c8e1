// Regressions from a hostile fuzzing pass, built from the committed GPT-2 fixture (tools/fixtures), and a seeded
// fuzz test: whatever the mutation, readSafetensors returns tensors that fill the data section exactly or throws a
// CheckpointError — never another error type. Node-only: the fixture is read with node:fs.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { thrownBy } from '@tide/backend/testing';
import { CheckpointError } from './errors.js';
import { readSafetensors, type SafetensorsDtype } from './safetensors.js';

const fixture = new Uint8Array(
  readFileSync(new URL('../../../tools/fixtures/data/gpt2-tiny/model.safetensors', import.meta.url)),
);
const headerLength = Number(new DataView(fixture.buffer, fixture.byteOffset).getBigUint64(0, true));
const data = fixture.subarray(8 + headerLength);
type Entry = { dtype: unknown; shape: unknown; data_offsets: unknown };
const header = JSON.parse(new TextDecoder().decode(fixture.subarray(8, 8 + headerLength))) as Record<string, Entry>;
const names = Object.keys(header).filter((n) => n !== '__metadata__');
const BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4 };

/** The fixture with its header JSON replaced (by a text, or by `edit` of a copy), padded to 8 bytes, and `tail`. */
function withHeader(edit: string | ((h: Record<string, Entry>) => void), tail = data): Uint8Array {
  let text: string;
  if (typeof edit === 'string') text = edit;
  else {
    const h = structuredClone(header);
    edit(h);
    text = JSON.stringify(h);
  }
  const json = new TextEncoder().encode(text);
  const n = json.length + ((8 - (json.length % 8)) % 8);
  const out = new Uint8Array(8 + n + tail.length).fill(0x20, 8, 8 + n);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  out.set(json, 8);
  out.set(tail, 8 + n);
  return out;
}

/** The fixture with header length `n` written over its own. */
function withLength(n: bigint): Uint8Array {
  const out = fixture.slice();
  new DataView(out.buffer).setBigUint64(0, n, true);
  return out;
}

const message = (bytes: Uint8Array) => {
  const e = thrownBy(() => readSafetensors(bytes, 'gpt2.st'));
  expect(e, e.stack).toBeInstanceOf(CheckpointError);
  return e.message;
};

describe('readSafetensors on a malformed GPT-2 fixture', () => {
  it('reads the fixture itself: its tensors fill the data section', () => {
    const f = readSafetensors(fixture);
    expect(f.tensors.size).toBe(names.length);
    expect([...f.tensors.values()].reduce((s, t) => s + t.data.length * BYTES[t.dtype], 0)).toBe(data.length);
  });

  it('refuses a header length 4 short (the cut falls in the padding): the tensors would be read 4 bytes early', () => {
    expect(new TextDecoder().decode(fixture.subarray(8 + headerLength - 4, 8 + headerLength))).toBe('    ');
    expect(message(withLength(BigInt(headerLength - 4)))).toBe(
      `gpt2.st: tensor "ln_f.bias": expected data_offsets ending at ${data.length + 4}, the end of the data section (the last tensor), received [39744, 39808], leaving bytes [39808, 39812) that no tensor owns. Fix: the header length or the data_offsets are wrong: the file is corrupt`,
    );
  });

  it('refuses a header length beyond the file, and one past the format limit', () => {
    expect(message(withLength(BigInt(fixture.length)))).toMatch(
      new RegExp(
        `^gpt2\\.st: header: expected a header length ≤ ${fixture.length - 8} bytes \\(the bytes after it\\), received ${fixture.length}\\.`,
      ),
    );
    expect(message(withLength(2n ** 63n))).toMatch(/received 9223372036854775808\./);
  });

  it('refuses overlapping, aliased and gapped offsets, and trailing bytes, naming the tensors and both offsets', () => {
    expect(message(withHeader((h) => (h['wpe.weight']!.data_offsets = [3196, 5244])))).toMatch(
      /^gpt2\.st: tensor "wpe\.weight": expected data_offsets beginning at 3200 \(where tensor "wte\.weight" \[0, 3200\] ends\), received \[3196, 5244\], overlapping tensor "wte\.weight" \[0, 3200\]\./,
    );
    expect(message(withHeader((h) => (h['h.0.ln_1.bias']!.data_offsets = [5248, 5312])))).toMatch(
      /tensor "h\.0\.ln_1\.(bias|weight)": expected data_offsets beginning at 5312 \(where tensor "h\.0\.ln_1\.(weight|bias)" \[5248, 5312\] ends\), received \[5248, 5312\], the same bytes as tensor "h\.0\.ln_1\.(weight|bias)"\./,
    );
    expect(message(withHeader((h) => delete h['h.0.ln_1.bias']))).toMatch(
      /tensor "h\.0\.attn\.c_attn\.weight": expected data_offsets beginning at 5312 \(where tensor "h\.0\.ln_1\.weight" \[5248, 5312\] ends\), received \[5376, 8448\], leaving bytes \[5312, 5376\) that no tensor owns\./,
    );
    const trailing = new Uint8Array(fixture.length + 4);
    trailing.set(fixture);
    expect(message(trailing)).toMatch(
      /tensor "ln_f\.bias": expected data_offsets ending at 39812, .*received \[39744, 39808\], leaving bytes \[39808, 39812\) that no tensor owns\./,
    );
    expect(message(fixture.subarray(0, fixture.length - 1))).toMatch(
      /tensor "ln_f\.bias": expected data_offsets within the data section of 39807 bytes, received \[39744, 39808\]\. Fix: the file is truncated/,
    );
  });

  it('refuses 5,000 levels of nesting in dtype, shape, data_offsets and __metadata__ with a short message', () => {
    const deep = '['.repeat(5000) + ']'.repeat(5000);
    for (const field of ['dtype', 'shape', 'data_offsets', '__metadata__']) {
      const text = JSON.stringify(header).replace(
        field === '__metadata__' ? /"__metadata__":\{[^}]*\}/ : new RegExp(`"${field}":("F32"|\\[[^\\]]*\\])`),
        `"${field}":${deep}`,
      );
      expect(text.length).toBeGreaterThan(10_000);
      const m = message(withHeader(text));
      expect(m.length).toBeLessThan(300);
      expect(m).toMatch(
        field === '__metadata__' ? /__metadata__: expected an object/ : /tensor "wte\.weight": expected/,
      );
    }
  });

  it('refuses dtype "toString", a __metadata__ that is not an object, and bad shapes', () => {
    expect(message(withHeader((h) => (h['wte.weight']!.dtype = 'toString')))).toMatch(
      /tensor "wte\.weight": expected dtype F32, F16, BF16, F64, I64 or I32, received "toString"/,
    );
    for (const metadata of ['pt', ['pt'], 7, { format: { pt: true } }])
      expect(message(withHeader((h) => (h['__metadata__'] = metadata as never)))).toMatch(
        /^gpt2\.st: __metadata__: expected an object of string → string/,
      );
    expect(message(withHeader((h) => (h['wte.weight']!.shape = [-50, -16])))).toMatch(
      /tensor "wte\.weight": expected a shape .*received \[-50, -16\] \(dimension 0 is -50\)/,
    );
    expect(message(withHeader((h) => (h['wte.weight']!.shape = [50, 16.5])))).toMatch(/\(dimension 1 is 16\.5\)/);
    expect(message(withHeader((h) => (h['wte.weight']!.shape = [2 ** 40, 2 ** 40, 0])))).toMatch(
      /tensor "wte\.weight": expected a shape of at most 2\^53 − 1 elements/,
    );
    expect(message(withHeader((h) => (h['wte.weight']!.shape = [50, 17])))).toMatch(
      /tensor "wte\.weight": expected 3400 bytes for F32 \[50, 17\], received 3200 bytes \(data_offsets \[0, 3200\]\)/,
    );
  });
});

describe('readSafetensors under fuzzing (seeded)', () => {
  const anyValue = fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.constantFrom<unknown>('toString', '__proto__', 'U8', 'F64', -1, 2 ** 53, 1e300, 0.5, [], [0, 0], [-1, 4]),
  );
  const tensor = fc.constantFrom(...names);
  /** A mutation of the fixture's bytes. */
  const mutation: fc.Arbitrary<() => Uint8Array> = fc.oneof(
    // Byte edits, mostly in the length and the header.
    fc
      .array(
        fc.tuple(fc.oneof(fc.nat({ max: 8 + headerLength + 16 }), fc.nat({ max: fixture.length - 1 })), fc.nat(255)),
        {
          minLength: 1,
          maxLength: 6,
        },
      )
      .map((edits) => () => {
        const out = fixture.slice();
        for (const [at, value] of edits) out[at] = value;
        return out;
      }),
    // Edits that keep the file valid: data bytes (any value, NaN included), a dtype of the same size, a reshape.
    fc
      .array(fc.tuple(fc.nat({ max: data.length - 1 }), fc.nat(255)), { minLength: 1, maxLength: 6 })
      .map((edits) => () => {
        const out = fixture.slice();
        for (const [at, value] of edits) out[8 + headerLength + at] = value;
        return out;
      }),
    fc.tuple(tensor, fc.boolean()).map(
      ([name, flat]) =>
        () =>
          withHeader((h) => {
            const shape = h[name]!.shape as number[];
            if (flat) h[name]!.shape = [shape.reduce((a, b) => a * b, 1)];
            else h[name]!.dtype = 'I32';
          }),
    ),
    // Truncations.
    fc.nat({ max: fixture.length }).map((n) => () => fixture.slice(0, n)),
    // Header lengths near and far from the true one.
    fc
      .oneof(
        fc.integer({ min: -64, max: 64 }).map((d) => BigInt(headerLength + d)),
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      )
      .filter((n) => n >= 0n)
      .map((n) => () => withLength(n)),
    // A header field replaced by another value.
    fc.tuple(tensor, fc.constantFrom('dtype', 'shape', 'data_offsets'), anyValue).map(
      ([name, field, value]) =>
        () =>
          withHeader((h) => ((h[name] as Record<string, unknown>)[field] = value)),
    ),
    // An offset or a dimension moved a little.
    fc.tuple(tensor, fc.boolean(), fc.nat(1), fc.integer({ min: -8, max: 8 })).map(
      ([name, inShape, index, delta]) =>
        () =>
          withHeader((h) => {
            const list = (inShape ? h[name]!.shape : h[name]!.data_offsets) as number[];
            list[Math.min(index, list.length - 1)]! += delta;
          }),
    ),
    // A whole entry or the metadata replaced, or a tensor dropped.
    fc.tuple(fc.constantFrom(...names, '__metadata__'), fc.option(anyValue, { nil: undefined })).map(
      ([name, value]) =>
        () =>
          withHeader((h) => {
            if (value === undefined) delete h[name];
            else h[name] = value as Entry;
          }),
    ),
  );

  it('either fills the data section exactly or throws a CheckpointError', () => {
    const started = performance.now();
    let read = 0;
    fc.assert(
      fc.property(mutation, (mutate) => {
        const bytes = mutate();
        let f;
        try {
          f = readSafetensors(bytes, 'fuzz.st');
        } catch (e) {
          expect(e, (e as Error).stack).toBeInstanceOf(CheckpointError);
          expect((e as Error).message.length).toBeLessThan(600);
          return;
        }
        read++;
        const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
        let total = 0;
        for (const t of f.tensors.values()) {
          expect(t.data.length).toBe(t.shape.reduce((a, b) => a * b, 1));
          total += t.data.length * BYTES[t.dtype];
        }
        expect(total).toBe(bytes.length - 8 - n);
      }),
      { seed: 7, numRuns: 300 },
    );
    expect(read).toBeGreaterThan(30); // some mutations (of the data, of the padding) leave a valid file
    expect(performance.now() - started).toBeLessThan(5000);
  });
});
