import { describe, expect, it } from 'vitest';
import { readmeExamples } from './readme.js';

describe('readmeExamples', () => {
  it('extracts ts blocks only, in order', () => {
    const md = 'x\n```ts\nconst a = 1;\n```\n```sh\nnpm i\n```\n```typescript\nconst b = 2;\n```\n';
    expect(readmeExamples(md)).toEqual(['const a = 1;\n', 'const b = 2;\n']);
    expect(readmeExamples('no code')).toEqual([]);
  });
});
