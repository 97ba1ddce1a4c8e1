import { describe, expect, it } from 'vitest';
import { convergenceOrder } from './order.js';

describe('convergenceOrder', () => {
  it('recovers p from err = C·h^p exactly and from noisy data approximately', () => {
    const h = [0.1, 0.05, 0.025, 0.0125, 0.00625];
    expect(
      convergenceOrder(
        h,
        h.map((x) => 3 * x ** 2),
      ),
    ).toBeCloseTo(2, 12);
    expect(
      convergenceOrder(
        h,
        h.map((x) => 0.5 * x ** 4),
      ),
    ).toBeCloseTo(4, 12);
    expect(
      convergenceOrder(
        h,
        h.map((x, i) => x * (1 + 0.05 * (-1) ** i)),
      ),
    ).toBeCloseTo(1, 1);
  });

  it('refuses non-positive errors and mismatched lengths', () => {
    expect(() => convergenceOrder([1, 0.5], [0, 1])).toThrow(/positive and finite/);
    expect(() => convergenceOrder([1, 0.5], [1])).toThrow(/equal length/);
  });
});
