/** Typed errors of `@tide/transformer`, each for one concern; all derive from `TideError` (expected / received / fix). */
import { TideError } from '@tide/backend';

/** A scheme, step count or schedule that cannot discretise this model. */
export class DiscretisationError extends TideError {}

/** An input (hidden states, token ids, token weights, a prompt) that does not fit the model. */
export class InputError extends TideError {}
