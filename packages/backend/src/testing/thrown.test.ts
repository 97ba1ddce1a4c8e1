import { describe, expect, it } from 'vitest';
import { TideError } from '../errors.js';
import { thrownBy } from './thrown.js';

describe('thrownBy', () => {
  it('returns what the call throws, and fails when it throws nothing', () => {
    const e = thrownBy(() => {
      throw new TideError('x', { expected: 'a', received: 'b' });
    });
    expect(e).toBeInstanceOf(TideError);
    expect((e as TideError).received).toBe('b');
    expect(() => thrownBy(() => 1)).toThrow(/expected the call to throw/);
  });
});
