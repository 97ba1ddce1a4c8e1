/**
 * Text in and out: GPT-2's byte-level BPE (the maintained `gpt-tokenizer` package, encoding `r50k_base`,
 * loaded on first use) for 50 257-token vocabularies, or the character alphabet a checkpoint declares in
 * `config.json` (`"tide_tokenizer": { "type": "chars", "alphabet": … }`).
 */
import { CheckpointError } from './errors.js';

/** Encodes and decodes text for one model. */
export interface Tokenizer {
  readonly name: string;
  encode(text: string): number[];
  decode(ids: readonly number[]): string;
}

/** The character tokenizer of an alphabet (id = index of the character). */
export function characterTokenizer(alphabet: string): Tokenizer {
  const chars = [...alphabet];
  const index = new Map(chars.map((c, i) => [c, i]));
  return {
    name: `chars(${chars.length})`,
    encode(text: string): number[] {
      return [...text].map((c, i) => {
        const id = index.get(c);
        if (id === undefined)
          throw new CheckpointError('prompt', {
            expected: `characters of the model's alphabet`,
            received: `${JSON.stringify(c)} at position ${i}`,
            fix: 'remove characters the model does not know',
          });
        return id;
      });
    },
    decode: (ids) => ids.map((i) => chars[i] ?? '').join(''),
  };
}

/** GPT-2's BPE (r50k_base). */
export async function gpt2Tokenizer(): Promise<Tokenizer> {
  const bpe = await import('gpt-tokenizer/encoding/r50k_base');
  return { name: 'gpt2 (r50k_base)', encode: (text) => bpe.encode(text), decode: (ids) => bpe.decode([...ids]) };
}

/** The tokenizer a checkpoint declares: GPT-2 BPE, or a character alphabet (id = index). */
export type TokenizerSpec = { readonly type: 'gpt2' } | { readonly type: 'chars'; readonly alphabet: string };

/** The tokenizer a model declares, or `undefined` (then only token ids can be used). */
export async function tokenizerFor(config: {
  readonly tokenizer?: TokenizerSpec | undefined;
}): Promise<Tokenizer | undefined> {
  if (config.tokenizer?.type === 'chars') return characterTokenizer(config.tokenizer.alphabet);
  if (config.tokenizer?.type === 'gpt2') return gpt2Tokenizer();
  return undefined;
}
