/**
 * Position embeddings as functions on Ω_x = [0, 1]² (paper §6; docs/image-domains.md): a checkpoint's table
 * `[1, 1 + P, d]` is the embedding sampled at the class point and on its own `r × c` patch grid; on another
 * grid `r' × c'` it is resampled bicubically (torchvision's `interpolate_embeddings`: align_corners, A = −0.75, the
 * class position kept; each axis on its own for non-square grids).
 */
import { describeValue, tf } from '@tide/backend';
import { field, imageTokenGrid, resampleImageField } from '@tide/domain';
import { ImageInputError } from './errors.js';

/**
 * The position embedding on the `rows × cols` grid, class position first: `[1, 1 + rows·cols, d]`. `positions` is
 * the table on the checkpoint's `grid` (`[r, c]`). A new tensor the caller owns (a clone when the grids agree).
 */
export function positionsOn(
  positions: tf.Tensor3D,
  grid: readonly [number, number],
  rows: number,
  cols: number,
): tf.Tensor3D {
  const ok = (n: unknown) => Number.isInteger(n) && (n as number) >= 1;
  if (!Array.isArray(grid) || grid.length !== 2 || !grid.every(ok) || !ok(rows) || !ok(cols))
    throw new ImageInputError('positionsOn: grids', {
      expected: "the table's grid [r, c] and the target rows, cols as integers ≥ 1",
      received: `${describeValue(grid)} → ${describeValue(rows)} × ${describeValue(cols)}`,
      fix: 'pass the patch grids, e.g. positionsOn(table, [4, 4], 6, 6)',
    });
  const n = 1 + grid[0] * grid[1];
  if (!(positions instanceof tf.Tensor) || positions.rank !== 3 || positions.shape[0] !== 1 || positions.shape[1] !== n)
    throw new ImageInputError('positionsOn: positions', {
      expected: `a table [1, ${n}, d] (the class position, then the ${grid[0]} × ${grid[1]} grid)`,
      received: positions instanceof tf.Tensor ? `shape [${positions.shape.join(', ')}]` : describeValue(positions),
      fix: "pass the checkpoint's position embedding with the grid it was trained on",
    });
  if (grid[0] === rows && grid[1] === cols) return tf.clone(positions);
  const table = field(positions, { tokenGrid: imageTokenGrid(grid[0], grid[1], { classToken: true }) });
  return resampleImageField(table, rows, cols).values; // [1, 1 + rows·cols, d]
}
