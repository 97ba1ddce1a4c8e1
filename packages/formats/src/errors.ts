import { TideError } from '@tide/backend';

/** A checkpoint, config or input file is missing, truncated, malformed or does not match the model. */
export class CheckpointError extends TideError {}
