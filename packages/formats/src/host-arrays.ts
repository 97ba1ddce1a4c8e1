/**
 * Host-side passes over checkpoint data before it reaches the engine (docs/checkpoints.md): the finiteness check
 * and the `[out, in]` → `[in, out]` transpose of PyTorch `Linear` weights, which checks finiteness on the way.
 * Both run once per weight at load time. The transpose writes contiguously, reading bands of 64 rows: ≈ 1.6 ns
 * a float against ≈ 7 ns for the wasm engine's transpose after upload (measured on this project's machine).
 */

/** The index of the first element of `data` that is not finite (NaN or ±∞), or −1 when all are finite. */
export function firstNonFinite(data: Float32Array): number {
  for (let i = 0; i < data.length; i++) {
    const x = data[i]!;
    if (x - x !== 0) return i; // NaN for NaN and ±∞, 0 for every finite x
  }
  return -1;
}

/** Rows of the source read per band: the band's `BAND × cols` source floats stay in cache while written out. */
const BAND = 64;

/**
 * Writes the transpose of a row-major `[rows, cols]` matrix into `out` as row-major `[cols, rows]`:
 * `out[j·rows + i] = data[i·cols + j]`, four columns per pass over a band of rows. Returns whether every value is
 * finite (the check rides along: Σ (x − x) is NaN exactly when some x is NaN or ±∞). Throws a RangeError when
 * `data` or `out` does not hold `rows · cols` elements.
 */
export function transposeInto(out: Float32Array, data: Float32Array, rows: number, cols: number): boolean {
  const n = rows * cols;
  if (
    !Number.isInteger(rows) ||
    !Number.isInteger(cols) ||
    rows < 0 ||
    cols < 0 ||
    data.length !== n ||
    out.length !== n
  ) {
    throw new RangeError(
      `transposeInto: expected ${rows} × ${cols} = ${n} elements in and out, received ${data.length} and ${out.length}`,
    );
  }
  let check = 0;
  for (let i0 = 0; i0 < rows; i0 += BAND) {
    const i1 = Math.min(i0 + BAND, rows);
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const o0 = j * rows;
      const o1 = o0 + rows;
      const o2 = o1 + rows;
      const o3 = o2 + rows;
      for (let i = i0, src = i0 * cols + j; i < i1; i++, src += cols) {
        const a = data[src]!;
        const b = data[src + 1]!;
        const c = data[src + 2]!;
        const d = data[src + 3]!;
        out[o0 + i] = a;
        out[o1 + i] = b;
        out[o2 + i] = c;
        out[o3 + i] = d;
        check += a - a + (b - b) + (c - c) + (d - d);
      }
    }
    for (; j < cols; j++) {
      const o = j * rows;
      for (let i = i0, src = i0 * cols + j; i < i1; i++, src += cols) {
        const a = data[src]!;
        out[o + i] = a;
        check += a - a;
      }
    }
  }
  return check === 0;
}
