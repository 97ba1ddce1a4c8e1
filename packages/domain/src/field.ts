/**
 * A discrete field u(x, y) on a token grid × feature grid (paper §2–§3; docs/domains-and-quadrature.md).
 *
 * `values` is `[B, N_x, N_y]` (batch × tokens × features). The field keeps the grids it lives on, so no
 * operator loses track of its quadrature. Per-sample token weights `[B, N_x]` override the grid's weights
 * (padding = weight 0; it then drops out of every token integral exactly).
 *
 * Ownership: a Field owns its `values` tensor; {@link Field.dispose} frees it. Operators never dispose
 * their input and return a new Field.
 */
import { tf, describeValue, formatShape } from '@tide/backend';
import { DomainError, ShapeError } from './errors.js';
import type { Grid } from './grid.js';
import { featureGrid as standardFeatureGrid, tokenGrid as standardTokenGrid } from './midpoint.js';

/** Options of {@link field}. */
export interface FieldOptions {
  /** The token grid (default: the standard grid of N_x tokens, unit weights). */
  readonly tokenGrid?: Grid;
  /** The feature grid (default: the standard grid of width N_y, unit weights). */
  readonly featureGrid?: Grid;
  /** Per-sample token weights `[B·N_x]` (row-major) or `[B][N_x]`; 0 marks padding. */
  readonly tokenWeights?: ArrayLike<number> | readonly ArrayLike<number>[];
}

/** A discrete field: `[B, N_x, N_y]` values with their token and feature grids. */
export class Field {
  /** `[B, N_x, N_y]` float32. */
  readonly values: tf.Tensor3D;
  readonly tokenGrid: Grid;
  readonly featureGrid: Grid;
  /** `[B·N_x]` per-sample token weights, or `undefined` when every sample uses `tokenGrid.weights`. */
  readonly tokenWeights: Float64Array | undefined;

  /** Use {@link field} to build one with validation. */
  protected constructor(
    values: tf.Tensor3D,
    tokenGrid: Grid,
    featureGrid: Grid,
    tokenWeights: Float64Array | undefined,
  ) {
    this.values = values;
    this.tokenGrid = tokenGrid;
    this.featureGrid = featureGrid;
    this.tokenWeights = tokenWeights;
  }

  /** @internal Builds a field without copying; validation is the caller's duty (see {@link field}). */
  static unchecked(values: tf.Tensor3D, tokenGrid: Grid, featureGrid: Grid, tokenWeights?: Float64Array): Field {
    return new Field(values, tokenGrid, featureGrid, tokenWeights);
  }

  /** Batch size B. */
  get batch(): number {
    return this.values.shape[0];
  }
  /** Number of tokens N_x. */
  get tokens(): number {
    return this.values.shape[1];
  }
  /** Number of features N_y. */
  get features(): number {
    return this.values.shape[2];
  }

  /**
   * The same grids and weights around new values `[B, N_x, N_y]` (an operator's output).
   * Throws a {@link ShapeError} when the shape differs.
   */
  withValues(values: tf.Tensor): Field {
    checkValues('Field.withValues', values, this.batch, this.tokenGrid, this.featureGrid);
    return new Field(values as tf.Tensor3D, this.tokenGrid, this.featureGrid, this.tokenWeights);
  }

  /**
   * New values on another feature grid (a lifted or restricted feature domain), same tokens.
   */
  onFeatureGrid(values: tf.Tensor, grid: Grid): Field {
    checkValues('Field.onFeatureGrid', values, this.batch, this.tokenGrid, grid);
    return new Field(values as tf.Tensor3D, this.tokenGrid, grid, this.tokenWeights);
  }

  /**
   * The token weights as a tensor: `[B, N_x]` with per-sample weights, else `[1, N_x]` (broadcastable).
   * The caller owns the result.
   */
  tokenWeightTensor(): tf.Tensor2D {
    if (this.tokenWeights !== undefined)
      return tf.tensor2d(Float32Array.from(this.tokenWeights), [this.batch, this.tokens], 'float32');
    return tf.tensor2d(Float32Array.from(this.tokenGrid.weights), [1, this.tokens], 'float32');
  }

  /** The token weights of sample `b` as numbers. */
  sampleTokenWeights(b: number): Float64Array {
    if (this.tokenWeights !== undefined) return this.tokenWeights.subarray(b * this.tokens, (b + 1) * this.tokens);
    return this.tokenGrid.weights;
  }

  /** Frees the values tensor. */
  dispose(): void {
    this.values.dispose();
  }
}

function checkValues(
  subject: string,
  values: unknown,
  batch: number | undefined,
  tokenGrid: Grid,
  featureGrid: Grid,
): void {
  if (!(values instanceof tf.Tensor)) {
    throw new ShapeError(`${subject}: values`, {
      expected: 'a tf.Tensor of shape [B, N_x, N_y]',
      received: describeValue(values),
      fix: 'pass tf.tensor3d(data, [B, N_x, N_y])',
    });
  }
  const shape = values.shape;
  const expected = `[${batch ?? 'B'}, ${tokenGrid.size}, ${featureGrid.size}] ([B, N_x, N_y] for a token grid of ${tokenGrid.size} and a feature grid of ${featureGrid.size} points)`;
  if (
    shape.length !== 3 ||
    shape[1] !== tokenGrid.size ||
    shape[2] !== featureGrid.size ||
    (batch !== undefined && shape[0] !== batch) ||
    shape[0] === 0
  ) {
    throw new ShapeError(`${subject}: values`, {
      expected,
      received: formatShape(shape),
      fix: 'match the values to the grids, or build grids with as many points as the tensor has tokens and features',
    });
  }
  if (values.dtype !== 'float32') {
    throw new ShapeError(`${subject}: values dtype`, {
      expected: 'float32',
      received: values.dtype,
      fix: 'cast with tf.cast(values, "float32")',
    });
  }
}

/**
 * Builds a {@link Field} from `[B, N_x, N_y]` values, checking them against the grids and weights.
 * The field takes ownership of `values` (it is not copied).
 */
export function field(values: tf.Tensor, options: FieldOptions = {}): Field {
  const shape = values instanceof tf.Tensor ? values.shape : [];
  const tokenGrid =
    options.tokenGrid ?? (shape.length === 3 && shape[1]! > 0 ? standardTokenGrid(shape[1]!) : undefined);
  const featureGrid =
    options.featureGrid ?? (shape.length === 3 && shape[2]! > 0 ? standardFeatureGrid(shape[2]!) : undefined);
  if (tokenGrid === undefined || featureGrid === undefined) {
    throw new ShapeError('field: values', {
      expected: 'a non-empty tf.Tensor of shape [B, N_x, N_y]',
      received: describeValue(values),
      fix: 'pass tf.tensor3d(data, [B, N_x, N_y]) with B, N_x, N_y ≥ 1',
    });
  }
  for (const [name, g] of [
    ['tokenGrid', tokenGrid],
    ['featureGrid', featureGrid],
  ] as const) {
    if (typeof g !== 'object' || !(g.weights instanceof Float64Array)) {
      throw new DomainError(`field: ${name}`, {
        expected: 'a Grid made by a quadrature rule (midpointRule, gaussLegendreRule, …)',
        received: describeValue(g),
        fix: `build the ${name} with @tide/domain`,
      });
    }
  }
  if (featureGrid.dimension !== 1) {
    throw new DomainError('field: featureGrid', {
      expected: 'a 1-D feature grid',
      received: `a ${featureGrid.dimension}-D grid`,
      fix: 'the feature domain Ω_y is an interval',
    });
  }
  checkValues('field', values, undefined, tokenGrid, featureGrid);
  const batch = values.shape[0]!;
  let weights: Float64Array | undefined;
  if (options.tokenWeights !== undefined) {
    const raw = options.tokenWeights;
    const flat: number[] = [];
    if (raw.length > 0 && typeof raw[0] === 'object')
      for (const row of raw as readonly ArrayLike<number>[]) flat.push(...Array.from(row));
    else flat.push(...Array.from(raw as ArrayLike<number>));
    if (flat.length !== batch * tokenGrid.size) {
      throw new DomainError('field: tokenWeights', {
        expected: `${batch * tokenGrid.size} weights ([B, N_x] = [${batch}, ${tokenGrid.size}])`,
        received: `${flat.length} weights`,
        fix: 'give one weight per token per sample (0 for padding)',
      });
    }
    weights = Float64Array.from(flat);
    for (let b = 0; b < batch; b++) {
      let total = 0;
      for (let l = 0; l < tokenGrid.size; l++) {
        const w = weights[b * tokenGrid.size + l]!;
        if (!Number.isFinite(w) || w < 0) {
          throw new DomainError(`field: tokenWeights[${b}][${l}]`, {
            expected: 'a finite, non-negative weight',
            received: describeValue(w),
            fix: 'use 0 for padding and the quadrature weight elsewhere',
          });
        }
        total += w;
      }
      if (!(total > 0)) {
        throw new DomainError(`field: tokenWeights[${b}]`, {
          expected: 'a positive total weight in every sample',
          received: 'all weights 0 (the whole sample is padding)',
          fix: 'drop fully padded samples from the batch',
        });
      }
    }
  }
  return Field.unchecked(values as tf.Tensor3D, tokenGrid, featureGrid, weights);
}

/**
 * Throws a {@link ShapeError} unless `u` is a {@link Field}: the first check of every operator.
 * `subject` names the operator in the message.
 */
export function checkField(subject: string, u: unknown): asserts u is Field {
  if (!(u instanceof Field)) {
    throw new ShapeError(`${subject}: u`, {
      expected: 'a Field (values [B, N_x, N_y] with their grids)',
      received: describeValue(u),
      fix: 'wrap the tensor with field(values, { tokenGrid, featureGrid }) from @tide/domain',
    });
  }
}
