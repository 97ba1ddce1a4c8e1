import { TideError } from '@tide/backend';

/** A tensor or array has the wrong shape (rank, size, or a mismatch with its grids). */
export class ShapeError extends TideError {}

/** A domain, grid, quadrature rule or weight is invalid (empty, non-finite, negative, mismatched). */
export class DomainError extends TideError {}
