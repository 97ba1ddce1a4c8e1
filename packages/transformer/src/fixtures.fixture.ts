// Reads the committed PyTorch fixtures (tools/fixtures/generate_checkpoints.py).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tf } from '@tide/backend';
import { readSafetensors } from './safetensors.js';

export const FIXTURE_NAMES = ['encoder-postln-relu', 'encoder-preln-gelu', 'encoder-postln-1head', 'gpt2-tiny'] as const;

export function fixtureDir(name: string): string {
  return fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
}

export interface FixtureIO {
  input?: tf.Tensor3D;
  inputIds?: tf.Tensor2D;
  tokenWeights?: number[][];
  output: tf.Tensor3D;
  dispose(): void;
}

export function fixtureIO(name: string): FixtureIO {
  const file = readSafetensors(new Uint8Array(readFileSync(`${fixtureDir(name)}/io.safetensors`)), name);
  const get = (k: string) => file.tensors.get(k);
  const out = get('output')!;
  const io: FixtureIO = { output: tf.tensor3d(out.data as Float32Array, out.shape as [number, number, number]), dispose: () => tf.dispose([io.output, ...(io.input ? [io.input] : []), ...(io.inputIds ? [io.inputIds] : [])]) };
  const x = get('input');
  if (x) io.input = tf.tensor3d(x.data as Float32Array, x.shape as [number, number, number]);
  const ids = get('input_ids');
  if (ids) io.inputIds = tf.tensor2d(ids.data as Int32Array, ids.shape as [number, number], 'int32');
  const w = get('token_weights');
  if (w) io.tokenWeights = Array.from({ length: w.shape[0]! }, (_, b) => Array.from((w.data as Float32Array).subarray(b * w.shape[1]!, (b + 1) * w.shape[1]!)));
  return io;
}

/** SPEC §5: max|Δ| ≤ 1e-4·max(1, max|ref|). */
export function parityTolerance(ref: tf.Tensor): number {
  return 1e-4 * Math.max(1, tf.tidy(() => tf.max(tf.abs(ref)).dataSync()[0]!));
}

export function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}
