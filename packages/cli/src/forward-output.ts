/**
 * The output file of `tide forward` (docs/checkpoints.md, "tide forward"): the result tensors as float32 in one
 * safetensors file, written atomically, so a failed run leaves no file behind and a reader never sees half one.
 */
import { CheckpointError, writeSafetensors, type TensorToWrite } from '@tide/formats';
import { writeFileAtomic } from '@tide/formats/node';

/** Writes `tensors` to `file` with the scheme's description in the metadata. */
export function writeForwardOutput(file: string, tensors: Record<string, TensorToWrite>, description: string): void {
  const bytes = writeSafetensors(tensors, { generator: 'tide forward', scheme: description });
  try {
    writeFileAtomic(file, bytes);
  } catch (e) {
    throw new CheckpointError(file, {
      expected: 'a writable output path',
      received: (e as Error).message,
      fix: 'check the folder exists and is writable',
    });
  }
}
