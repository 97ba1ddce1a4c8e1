// Config readers: each returns the value or the fallback, and refuses anything else naming the file and the key.
import { expect, it } from 'vitest';
import { configBoolean, configInteger, configList, configNumber } from './config-fields.js';
import { CheckpointError } from './errors.js';

it('reads valid fields and fallbacks', () => {
  const c = { n: 3, x: 0.5, b: false, l: [1, 2] };
  expect(configInteger('c.json', c, 'n')).toBe(3);
  expect(configInteger('c.json', c, 'm', 7)).toBe(7);
  expect(configNumber('c.json', c, 'x', 1)).toBe(0.5);
  expect(configBoolean('c.json', c, 'b', true)).toBe(false);
  expect(configList('c.json', c, 'l', 2, 'integers', (v) => (Number.isInteger(v) ? (v as number) : undefined))).toEqual(
    [1, 2],
  );
});

it('refuses bad fields with the file and the key in the message', () => {
  const c = { n: 2.5, x: -1, b: 'yes', l: [1, 'two'], s: [1] };
  const int = (v: unknown) => (Number.isInteger(v) ? (v as number) : undefined);
  const bad: [() => unknown, RegExp][] = [
    [() => configInteger('c.json', c, 'n'), /c\.json: "n": expected a positive integer, received 2\.5/],
    [() => configInteger('c.json', c, 'missing'), /"missing"/],
    [() => configNumber('c.json', c, 'x', 1), /"x": expected a finite number ≥ 0/],
    [() => configBoolean('c.json', c, 'b', true), /"b": expected true or false/],
    [() => configList('c.json', c, 'l', 2, 'integers', int), /"l": expected a list of 2 integers .*entry 1/],
    [() => configList('c.json', c, 's', 3, 'integers', int), /received 1 entries/],
    [() => configList('c.json', c, 'n', 3, 'integers', int), /"n": expected a list/],
  ];
  for (const [f, message] of bad) {
    expect(f).toThrow(CheckpointError);
    expect(f).toThrow(message);
  }
});
