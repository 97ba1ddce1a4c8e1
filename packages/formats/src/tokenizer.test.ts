import { describe, expect, it } from 'vitest';
import { characterTokenizer, gpt2Tokenizer } from './tokenizer.js';

describe('tokenizers', () => {
  it("GPT-2's BPE gives GPT-2's ids and round-trips", async () => {
    const t = await gpt2Tokenizer();
    expect(t.encode('Hello world')).toEqual([15496, 995]);
    expect(t.decode(t.encode(' integro-differential equations, ∫ γ dx̃'))).toBe(
      ' integro-differential equations, ∫ γ dx̃',
    );
  });

  it('the character tokenizer maps ids to its alphabet and refuses unknown characters', () => {
    const t = characterTokenizer('ab c');
    expect(t.encode('a cb')).toEqual([0, 2, 3, 1]);
    expect(t.decode([3, 0])).toBe('ca');
    expect(() => t.encode('ax')).toThrow(/expected characters of the model's alphabet, received "x" at position 1/);
  });
});
