import { TideError } from '@tide/backend';

/** A solve was asked for something it cannot do: a bad time span or step, an empty scheme, a schedule that does not cover the span. */
export class SolverError extends TideError {}
