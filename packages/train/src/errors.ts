/** Typed errors of `@tide/train`; all derive from `TideError` (expected / received / fix). */
import { TideError } from '@tide/backend';

/** A training option, corpus or trainer state that cannot be used, or a run that diverged. */
export class TrainingError extends TideError {}
