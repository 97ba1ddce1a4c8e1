/**
 * The token domain of an image model (paper §6; docs/image-domains.md): Ω_x = [0, 1]², the patch grid as the
 * product midpoint grid of `rows × cols` cells (points `((i + ½)/rows, (j + ½)/cols)` in raster order, weights
 * `1/(rows·cols)`), and optionally a class token as one extra quadrature point ahead of the patches, with the
 * same weight as a patch (so the quadrature weights stay uniform and cancel inside the attention kernel, as in
 * the discrete ViT). The class point sits at the domain's corner (0, 0): it carries no spatial meaning, only a
 * weight.
 *
 * A finer image of the same picture is a finer grid on the same Ω_x; that is what lets a checkpoint run at a
 * resolution it was not trained at (the position embedding is a function on Ω_x, resampled to the new grid).
 */
import { describeValue } from '@tide/backend';
import { DomainError } from './errors.js';
import { checkPointCount, makeGrid, type Grid, type ImageLayout } from './grid.js';
import { interval, rectangle } from './interval.js';
import { midpointRule } from './midpoint.js';
import { productGrid } from './product-grid.js';

/** Options of {@link imageTokenGrid}. */
export interface ImageTokenGridOptions {
  /** One class token ahead of the patches (ViT, CvT's last stage). Default false. */
  readonly classToken?: boolean;
}

/**
 * The token grid of a `rows × cols` patch grid on [0, 1]² (raster order), after one class-token point when
 * `options.classToken`. `grid.layout` records `{ rows, cols, leading }`.
 */
export function imageTokenGrid(rows: number, cols: number, options: ImageTokenGridOptions = {}): Grid {
  checkPointCount('imageTokenGrid: rows', rows);
  checkPointCount('imageTokenGrid: cols', cols);
  if (typeof options !== 'object' || options === null || !['boolean', 'undefined'].includes(typeof options.classToken))
    throw new DomainError('imageTokenGrid: options', {
      expected: '{ classToken?: boolean }',
      received: describeValue(options),
      fix: 'pass {} or { classToken: true }',
    });
  const unit = interval(0, 1);
  const patches = productGrid(midpointRule(unit, rows), midpointRule(unit, cols));
  if (options.classToken !== true) return patches;
  const n = patches.size + 1;
  const points = new Float64Array(2 * n);
  points.set(patches.points, 2); // the class point at (0, 0), then the patches
  const weights = new Float64Array(n).fill(1 / (rows * cols));
  return makeGrid({
    domain: rectangle(unit, unit),
    rule: 'product',
    dimension: 2,
    points,
    weights,
    degree: -1,
    layout: { rows, cols, leading: 1 },
  });
}

/** The image layout of a token grid, or a {@link DomainError} naming `what` when it has none. */
export function imageLayoutOf(grid: Grid, what: string): ImageLayout {
  const layout = grid?.layout;
  if (layout === undefined)
    throw new DomainError(`${what}: token grid`, {
      expected: 'a 2-D image token grid (rows × cols patches in raster order)',
      received: grid?.dimension === 2 ? 'a 2-D grid without an image layout' : `a ${grid?.dimension ?? '?'}-D grid`,
      fix: 'build the field on imageTokenGrid(rows, cols) or productGrid(…)',
    });
  return layout;
}

/**
 * The image layout of a token grid that is the `rows × cols` midpoint patch grid of [0, 1]² (after its leading
 * points): what convolutions and bicubic resampling are defined on. Refuses other grids — a Gauss–Legendre product,
 * a product of another rectangle — with a {@link DomainError} naming `what`.
 */
export function checkPatchGrid(grid: Grid, what: string): ImageLayout {
  const layout = imageLayoutOf(grid, what);
  const { rows, cols, leading } = layout;
  const domain = grid.domain;
  let bad =
    domain.kind !== 'rectangle' ||
    domain.x.lower !== 0 ||
    domain.x.upper !== 1 ||
    domain.y.lower !== 0 ||
    domain.y.upper !== 1;
  const w = 1 / (rows * cols);
  for (let l = 0; l < rows * cols && !bad; l++) {
    const x = grid.points[2 * (leading + l)]!;
    const y = grid.points[2 * (leading + l) + 1]!;
    bad =
      Math.abs(x - (Math.floor(l / cols) + 0.5) / rows) > 1e-12 ||
      Math.abs(y - ((l % cols) + 0.5) / cols) > 1e-12 ||
      Math.abs(grid.weights[leading + l]! - w) > 1e-12 * w;
  }
  if (bad)
    throw new DomainError(`${what}: token grid`, {
      expected: `the ${rows} × ${cols} midpoint patch grid of [0, 1]² (points ((i + ½)/${rows}, (j + ½)/${cols}), weights 1/${rows * cols})`,
      received:
        domain.kind === 'rectangle'
          ? `a ${grid.rule} grid on [${domain.x.lower}, ${domain.x.upper}] × [${domain.y.lower}, ${domain.y.upper}] whose points or weights are not the patch cells'`
          : 'a grid on an interval',
      fix: 'build the field on imageTokenGrid(rows, cols)',
    });
  return layout;
}
