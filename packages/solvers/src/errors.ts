import { TideError } from '@tide/backend';

/**
 * A solve was asked for something it cannot do — a bad time span or step, an empty scheme, a schedule that does
 * not cover the span — or, in an adaptive solve, could not do: bad tolerances, a step-size underflow, `maxSteps`
 * exhausted, a state that stays non-finite. Its `expected`, `received` and `fix` say what and how to mend it.
 */
export class SolverError extends TideError {}
