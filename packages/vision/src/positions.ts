/**
 * Position embeddings as functions on Ω_x = [0, 1]² (paper §6; docs/image-domains.md): a checkpoint's table
 * `[1, 1 + P, d]` is the embedding sampled at the class point and on its own `r × c` patch grid; on another
 * grid `r' × c'` it is resampled bicubically (torchvision's `interpolate_embeddings`: align_corners, A = −0.75, the
 * class position kept; each axis on its own for non-square grids).
 */
import { tf } from '@tide/backend';
import { field, imageTokenGrid, resampleImageField } from '@tide/domain';

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
  if (grid[0] === rows && grid[1] === cols) return tf.clone(positions);
  const table = field(positions, { tokenGrid: imageTokenGrid(grid[0], grid[1], { classToken: true }) });
  return resampleImageField(table, rows, cols).values; // [1, 1 + rows·cols, d]
}
