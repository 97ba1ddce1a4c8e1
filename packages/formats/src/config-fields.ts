/**
 * Reading the fields of a checkpoint's `config.json` (docs/checkpoints.md): each reader checks one field and
 * throws a {@link CheckpointError} naming the file, the key, what was expected, what was found and the fix.
 * Every layout's config parser reads through these, so a field is checked the same way everywhere.
 */
import { describeValue } from '@tide/backend';
import { CheckpointError } from './errors.js';

/** A parsed config.json: any JSON object. */
export type ConfigObject = Readonly<Record<string, unknown>>;

/** `cfg[key]` (or `fallback` when absent) as a positive integer. */
export function configInteger(file: string, cfg: ConfigObject, key: string, fallback?: number): number {
  const v = cfg[key] ?? fallback;
  if (!Number.isInteger(v) || (v as number) < 1)
    throw new CheckpointError(`${file}: "${key}"`, {
      expected: 'a positive integer',
      received: describeValue(v),
      fix: `set "${key}" in config.json`,
    });
  return v as number;
}

/** `cfg[key]` (or `fallback`) as a finite number ≥ 0. */
export function configNumber(file: string, cfg: ConfigObject, key: string, fallback: number): number {
  const v = cfg[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
    throw new CheckpointError(`${file}: "${key}"`, {
      expected: 'a finite number ≥ 0',
      received: describeValue(v),
      fix: `fix "${key}" in config.json`,
    });
  return v;
}

/** `cfg[key]` (or `fallback`) as a boolean. */
export function configBoolean(file: string, cfg: ConfigObject, key: string, fallback: boolean): boolean {
  const v = cfg[key] ?? fallback;
  if (typeof v !== 'boolean')
    throw new CheckpointError(`${file}: "${key}"`, {
      expected: 'true or false',
      received: describeValue(v),
      fix: `fix "${key}" in config.json`,
    });
  return v;
}

/**
 * `cfg[key]` as a list of `length` entries (HF CvT's per-stage lists), each checked by `check` (which returns
 * the entry or undefined when it is invalid); `what` describes a valid entry.
 */
export function configList<T>(
  file: string,
  cfg: ConfigObject,
  key: string,
  length: number,
  what: string,
  check: (v: unknown) => T | undefined,
): T[] {
  const v = cfg[key];
  const bad = (received: string): never => {
    throw new CheckpointError(`${file}: "${key}"`, {
      expected: `a list of ${length} ${what} (one per stage)`,
      received,
      fix: `fix "${key}" in config.json`,
    });
  };
  if (!Array.isArray(v)) return bad(describeValue(v));
  if (v.length !== length) return bad(`${v.length} entries`);
  return v.map((x, i) => {
    const c = check(x);
    return c === undefined ? bad(`entry ${i} = ${describeValue(x)}`) : c;
  });
}
