// The host passes over checkpoint data: the first non-finite index and the band transpose, against the obvious
// definitions on arbitrary shapes and values (property-based).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { firstNonFinite, transposeInto } from './host-arrays.js';

describe('firstNonFinite', () => {
  it('finds the first NaN or ±∞, or −1', () => {
    fc.assert(
      fc.property(fc.array(fc.float({ noDefaultInfinity: false, noNaN: false }), { maxLength: 300 }), (xs) => {
        const data = new Float32Array(xs);
        expect(firstNonFinite(data)).toBe(Array.from(data).findIndex((x) => !Number.isFinite(x)));
      }),
    );
    expect(firstNonFinite(new Float32Array([1, 2, Infinity, NaN]))).toBe(2);
    expect(firstNonFinite(new Float32Array([-Infinity]))).toBe(0);
    expect(firstNonFinite(new Float32Array([3.4e38, -3.4e38, 0]))).toBe(-1);
  });
});

describe('transposeInto', () => {
  it('is the transpose of a [rows, cols] matrix for any shape (bands of 64 rows, ragged ones included)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 150 }), fc.integer({ min: 0, max: 40 }), (rows, cols) => {
        const data = Float32Array.from({ length: rows * cols }, (_, k) => k * 0.5 - 3);
        const out = new Float32Array(rows * cols);
        expect(transposeInto(out, data, rows, cols)).toBe(true);
        for (let i = 0; i < rows; i++)
          for (let j = 0; j < cols; j++) expect(out[j * rows + i]).toBe(data[i * cols + j]);
      }),
      { numRuns: 40 },
    );
  });

  it('says whether every value is finite, wherever a NaN or ±∞ sits', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 70 }),
        fc.integer({ min: 1, max: 9 }),
        fc.nat(),
        fc.constantFrom(NaN, Infinity, -Infinity),
        (rows, cols, at, bad) => {
          const data = Float32Array.from({ length: rows * cols }, (_, k) => Math.cos(k));
          data[at % data.length] = bad;
          const out = new Float32Array(rows * cols);
          expect(transposeInto(out, data, rows, cols)).toBe(false);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('refuses a size that does not match the data', () => {
    expect(() => transposeInto(new Float32Array(6), new Float32Array(5), 2, 3)).toThrow(
      /expected 2 × 3 = 6 elements in and out, received 5 and 6/,
    );
    expect(() => transposeInto(new Float32Array(5), new Float32Array(6), 2, 3)).toThrow(RangeError);
  });
});
