import { describe, expect, it } from 'vitest';
import { causalSubdomain } from './causal.js';
import { gaussLegendreRule } from './gauss-legendre.js';
import { interval } from './interval.js';
import { DomainError } from './errors.js';

describe('causalSubdomain', () => {
  it('includes exactly the keys at or before the query point', () => {
    const g = gaussLegendreRule(interval(0, 1), 4);
    const c = causalSubdomain(g);
    for (let k = 0; k < 4; k++)
      for (let l = 0; l < 4; l++) {
        expect(c.includes(k, l)).toBe(g.points[l]! <= g.points[k]!);
        expect(c.mask[k * 4 + l]).toBe(g.points[l]! <= g.points[k]! ? 1 : 0);
      }
  });

  it('rejects a non-grid', () => {
    expect(() => causalSubdomain({} as never)).toThrow(DomainError);
  });
});
