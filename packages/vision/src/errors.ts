/** Typed errors of `@tide/vision`; all derive from `TideError` (expected / received / fix). */
import { TideError } from '@tide/backend';

/** Pixels that do not fit the model: wrong rank or channel count, a side not a multiple of the patch, NaN. */
export class ImageInputError extends TideError {}

/** A scheme or step count that cannot discretise this model. */
export class VisionDiscretisationError extends TideError {}
