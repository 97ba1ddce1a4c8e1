/**
 * The token grids a CvT's stages put an `H × W` image on (paper §6; docs/image-models.md): each stage's strided
 * convolutional embedding coarsens the grid, `n' = ⌊(n + 2p − k)/s⌋ + 1`, and its keys and values live on the grid
 * its strided Q/K/V maps coarsen that to. Checked up front, so an image too small for a stage's kernels is refused
 * with the size it needs instead of failing inside a solve.
 */
import { ImageInputError } from './errors.js';
import type { StageConfig } from './model.js';

/** One stage's token grid and its key grid. */
export interface StageGrid {
  readonly rows: number;
  readonly cols: number;
  readonly keyRows: number;
  readonly keyCols: number;
}

const coarsen = (n: number, k: number, s: number, p: number) => Math.floor((n + 2 * p - k) / s) + 1;

/** The smallest image side every stage's kernels fit (the embedding's, then the Q/K/V maps'). */
function smallestSide(stages: readonly StageConfig[]): number {
  for (let side = 1; side <= 4096; side++) {
    let n = side;
    let ok = true;
    for (const s of stages) {
      if (n + 2 * s.patch.padding < s.patch.kernel) ok = false;
      n = coarsen(n, s.patch.kernel, s.patch.stride, s.patch.padding);
      const q = Math.min(s.query.padding, s.keyValue.padding);
      if (n < 1 || n + 2 * q < s.kernelQkv) ok = false;
      if (!ok) break;
    }
    if (ok) return side;
  }
  return 4096;
}

/**
 * The grids of each stage for an `height × width` image.
 *
 * @throws ImageInputError when a stage's kernels do not fit its grid (the message gives the smallest image side)
 */
export function stageGrids(
  stages: readonly StageConfig[],
  height: number,
  width: number,
  source = 'pixel_values',
): StageGrid[] {
  const grids: StageGrid[] = [];
  let [rows, cols] = [height, width];
  for (const [i, s] of stages.entries()) {
    const fits = (n: number, k: number, p: number) => n + 2 * p >= k;
    const embeds = fits(rows, s.patch.kernel, s.patch.padding) && fits(cols, s.patch.kernel, s.patch.padding);
    const next = [
      coarsen(rows, s.patch.kernel, s.patch.stride, s.patch.padding),
      coarsen(cols, s.patch.kernel, s.patch.stride, s.patch.padding),
    ] as const;
    const maps =
      embeds &&
      [s.query.padding, s.keyValue.padding].every(
        (p) => fits(next[0], s.kernelQkv, p) && fits(next[1], s.kernelQkv, p),
      );
    if (!maps) {
      const side = smallestSide(stages);
      throw new ImageInputError(`${source}: size`, {
        expected: `an image whose every stage fits its kernels (stage ${i}: ${embeds ? `${s.kernelQkv} × ${s.kernelQkv} Q/K/V kernels on its ${next[0]} × ${next[1]} grid` : `a ${s.patch.kernel} × ${s.patch.kernel} embedding on a ${rows} × ${cols} grid`}), at least ${side} × ${side} pixels`,
        received: `${height} × ${width}`,
        fix: `resize the images to at least ${side} × ${side}`,
      });
    }
    [rows, cols] = next;
    grids.push({
      rows,
      cols,
      keyRows: coarsen(rows, s.kernelQkv, s.keyValue.stride, s.keyValue.padding),
      keyCols: coarsen(cols, s.kernelQkv, s.keyValue.stride, s.keyValue.padding),
    });
  }
  return grids;
}
