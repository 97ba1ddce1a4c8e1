import { describe, expect, it } from 'vitest';
import { DomainError } from './errors.js';
import { interval, rectangle } from './interval.js';

describe('interval and rectangle', () => {
  it('builds frozen domains with their measure', () => {
    const i = interval(-1, 3);
    expect(i).toEqual({ kind: 'interval', lower: -1, upper: 3, length: 4 });
    expect(Object.isFrozen(i)).toBe(true);
    expect(rectangle(interval(0, 2), interval(0, 3)).area).toBe(6);
  });

  it('rejects non-finite and empty intervals with a DomainError', () => {
    expect(() => interval(0, Infinity)).toThrow(DomainError);
    expect(() => interval(NaN, 1)).toThrow(/expected finite numeric bounds, received \[NaN, 1\]/);
    expect(() => interval(2, 2)).toThrow(/expected lower < upper, received \[2, 2\]/);
    expect(() => interval('0' as never, 1)).toThrow(DomainError);
    expect(() => rectangle(interval(0, 1), { kind: 'x' } as never)).toThrow(/rectangle: side y/);
  });
});
