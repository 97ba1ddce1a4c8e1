import { describe, expect, it } from 'vitest';
import { BackendError, TideError, describeValue, formatShape, invariant } from './errors.js';

describe('TideError', () => {
  it('formats subject, expected, received and fix, and keeps them as fields', () => {
    const e = new BackendError('initEngine: backend', { expected: 'wasm', received: '"gpu"', fix: 'use wasm' });
    expect(e.message).toBe('initEngine: backend: expected wasm, received "gpu". Fix: use wasm');
    expect(e.name).toBe('BackendError');
    expect(e).toBeInstanceOf(TideError);
    expect(e).toBeInstanceOf(Error);
    expect([e.subject, e.expected, e.received, e.fix]).toEqual(['initEngine: backend', 'wasm', '"gpu"', 'use wasm']);
  });

  it('describes values briefly and safely', () => {
    expect(describeValue(NaN)).toBe('NaN');
    expect(describeValue(undefined)).toBe('undefined');
    expect(describeValue([1, 2])).toBe('an array of length 2');
    expect(describeValue(new Float32Array(3))).toBe('a Float32Array of length 3');
    expect(describeValue({ shape: [2, 3] })).toBe('a tensor of shape [2, 3]');
    expect(describeValue('x'.repeat(100))).toHaveLength(62);
    expect(formatShape([1, 2, 3])).toBe('[1, 2, 3]');
  });

  it('invariant builds the error lazily', () => {
    let built = 0;
    const make = () => {
      built++;
      return new Error('no');
    };
    invariant(true, make);
    expect(built).toBe(0);
    expect(() => invariant(false, make)).toThrow('no');
    expect(built).toBe(1);
  });
});

describe('describeValue on hostile values', () => {
  it('reads one level only: deep nesting, a shape of arrays and an own constructor key stay short', () => {
    const deep = JSON.parse('['.repeat(5000) + ']'.repeat(5000)) as unknown;
    expect(describeValue({ shape: deep })).toBe('an object (Object)');
    expect(describeValue({ shape: [deep, 1] })).toBe('an object (Object)');
    expect(describeValue({ constructor: { name: 'x'.repeat(10_000) } })).toBe('an object (Object)');
    expect(describeValue(Object.create(null))).toBe('an object (Object)');
    expect(describeValue(deep)).toBe('an array of length 1');
    expect(describeValue({ shape: [2, 3] })).toBe('a tensor of shape [2, 3]');
  });
});
