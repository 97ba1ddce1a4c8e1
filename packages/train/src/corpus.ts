/**
 * A character-level corpus for language-model training: the text mapped onto an alphabet (newline + the 95
 * printable ASCII characters by default; typographic quotes and dashes folded to ASCII, other characters
 * dropped), split into a training part and a held-out validation tail, and seeded random batches of windows.
 */
import { tf, describeValue } from '@tide/backend';
import { TrainingError } from './errors.js';

/** Newline and the 95 printable ASCII characters: ids 0…95. */
export const ASCII_ALPHABET = `\n${Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('')}`;

const FOLD: Record<string, string> = {
  '‘': "'",
  '’': "'",
  '“': '"',
  '”': '"',
  '—': '--',
  '–': '-',
  '…': '...',
  '\t': ' ',
  '\r': '',
};

/** The corpus as ids, with its split. */
export interface Corpus {
  readonly alphabet: string;
  readonly train: Int32Array;
  readonly validation: Int32Array;
}

/** Maps `text` onto `alphabet` and holds out the last `validationFraction` (default 0.1). */
export function characterCorpus(
  text: string,
  options: { alphabet?: string; validationFraction?: number } = {},
): Corpus {
  const alphabet = options.alphabet ?? ASCII_ALPHABET;
  const index = new Map([...alphabet].map((c, i) => [c, i]));
  const ids: number[] = [];
  for (const raw of text.normalize('NFKD')) {
    for (const c of FOLD[raw] ?? raw) {
      const id = index.get(c);
      if (id !== undefined) ids.push(id);
    }
  }
  const fraction = options.validationFraction ?? 0.1;
  if (!(fraction > 0 && fraction < 0.5))
    throw new TrainingError('corpus: validationFraction', {
      expected: 'a number in (0, 0.5)',
      received: describeValue(fraction),
      fix: 'hold out e.g. 0.1 of the text',
    });
  const cut = Math.floor(ids.length * (1 - fraction));
  if (cut < 1000 || ids.length - cut < 200) {
    throw new TrainingError('corpus', {
      expected: 'at least ~1 200 characters of the alphabet',
      received: `${ids.length} characters`,
      fix: 'train on a longer text',
    });
  }
  return { alphabet, train: Int32Array.from(ids.slice(0, cut)), validation: Int32Array.from(ids.slice(cut)) };
}

/** `batch` random windows of `length + 1` ids: inputs `[B, length]` and next-token targets `[B, length]`. */
export function sampleBatch(
  ids: Int32Array,
  batch: number,
  length: number,
  random: () => number,
): { inputs: tf.Tensor2D; targets: tf.Tensor2D } {
  const x = new Int32Array(batch * length);
  const y = new Int32Array(batch * length);
  for (let b = 0; b < batch; b++) {
    const start = Math.floor(random() * (ids.length - length - 1));
    x.set(ids.subarray(start, start + length), b * length);
    y.set(ids.subarray(start + 1, start + length + 1), b * length);
  }
  return { inputs: tf.tensor2d(x, [batch, length], 'int32'), targets: tf.tensor2d(y, [batch, length], 'int32') };
}
