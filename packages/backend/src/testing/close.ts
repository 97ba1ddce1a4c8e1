/**
 * Closeness checks for tests: `|actual − expected| ≤ atol + rtol·|expected|`, elementwise.
 *
 * Unlike tfjs's `expectArraysClose` (absolute only; NaN equals Infinity there), NaN must meet NaN and
 * ±Inf must meet the same infinity exactly; the report names the worst index.
 */
import type { tf } from '#tfjs-core';
import { formatShape } from '../errors.js';

/** Something numeric to compare: a tensor, a (nested) array or typed array, or a number. */
export type Numeric = tf.Tensor | number | ArrayLike<number> | readonly Numeric[];

/** Tolerances of {@link closeness}. */
export interface Tolerance {
  /** Absolute tolerance (default 1e-5). */
  readonly atol?: number;
  /** Relative tolerance (default 1e-5). */
  readonly rtol?: number;
}

/** The result of a closeness comparison. */
export interface ClosenessReport {
  readonly ok: boolean;
  /** Why it failed, or `''`. */
  readonly reason: string;
  /** Flat index of the worst element (largest excess over its tolerance), or -1. */
  readonly worstIndex: number;
  readonly worstActual: number;
  readonly worstExpected: number;
  /** `max |actual − expected|` over the finite pairs. */
  readonly maxAbsDiff: number;
}

interface Flat {
  readonly values: ArrayLike<number>;
  readonly shape: number[];
}

function isTensor(x: unknown): x is tf.Tensor {
  return typeof x === 'object' && x !== null && 'dataSync' in x && 'shape' in x;
}

function flatten(x: Numeric): Flat {
  if (typeof x === 'number') return { values: [x], shape: [] };
  if (isTensor(x)) return { values: x.dataSync() as ArrayLike<number>, shape: [...x.shape] };
  if (ArrayBuffer.isView(x)) return { values: x as ArrayLike<number>, shape: [(x as ArrayLike<number>).length] };
  const arr = x as ArrayLike<Numeric>;
  if (arr.length === 0) return { values: [], shape: [0] };
  const parts = Array.from(arr, (item) => flatten(item));
  const inner = parts[0]!.shape;
  for (const p of parts) {
    if (formatShape(p.shape) !== formatShape(inner)) {
      throw new Error(`closeness: ragged nested array (${formatShape(inner)} vs ${formatShape(p.shape)})`);
    }
  }
  const values: number[] = [];
  for (const p of parts) for (let i = 0; i < p.values.length; i++) values.push(p.values[i]!);
  return { values, shape: [arr.length, ...inner] };
}

/** Compares two numerics elementwise; never throws on a mismatch, returns a report. */
export function closeness(actual: Numeric, expected: Numeric, tolerance: Tolerance = {}): ClosenessReport {
  const atol = tolerance.atol ?? 1e-5;
  const rtol = tolerance.rtol ?? 1e-5;
  const a = flatten(actual);
  const e = flatten(expected);
  // Tensor vs tensor and nested array vs nested array compare shapes; mixed forms compare counts.
  const strict =
    isTensor(actual) === isTensor(expected) &&
    !ArrayBuffer.isView(actual) &&
    !ArrayBuffer.isView(expected) &&
    typeof actual !== 'number' &&
    typeof expected !== 'number';
  if (a.values.length !== e.values.length || (strict && formatShape(a.shape) !== formatShape(e.shape))) {
    return {
      ok: false,
      reason: `shape mismatch: actual ${formatShape(a.shape)} (${a.values.length} values) vs expected ${formatShape(e.shape)} (${e.values.length} values)`,
      worstIndex: -1,
      worstActual: NaN,
      worstExpected: NaN,
      maxAbsDiff: NaN,
    };
  }
  let worstIndex = -1;
  let worstExcess = 0;
  let maxAbsDiff = 0;
  let special = '';
  for (let i = 0; i < a.values.length; i++) {
    const x = a.values[i]!;
    const y = e.values[i]!;
    if (Number.isNaN(y) || Number.isNaN(x) || !Number.isFinite(y) || !Number.isFinite(x)) {
      const same = (Number.isNaN(x) && Number.isNaN(y)) || x === y;
      if (!same && special === '') {
        special = `non-finite mismatch at index ${i}: actual ${x}, expected ${y}`;
        worstIndex = i;
      }
      continue;
    }
    const diff = Math.abs(x - y);
    maxAbsDiff = Math.max(maxAbsDiff, diff);
    const excess = diff - (atol + rtol * Math.abs(y));
    if (excess > worstExcess || (worstIndex < 0 && excess > 0)) {
      worstExcess = excess;
      if (special === '') worstIndex = i;
    }
  }
  const ok = special === '' && worstExcess <= 0;
  const wa = worstIndex >= 0 ? a.values[worstIndex]! : NaN;
  const we = worstIndex >= 0 ? e.values[worstIndex]! : NaN;
  const reason = ok
    ? ''
    : special !== ''
      ? special
      : `|actual − expected| exceeds atol + rtol·|expected| (atol=${atol}, rtol=${rtol}); worst at index ${worstIndex}: actual ${wa}, expected ${we}, |Δ| = ${Math.abs(wa - we)}; max |Δ| = ${maxAbsDiff}`;
  return { ok, reason, worstIndex: ok ? -1 : worstIndex, worstActual: wa, worstExpected: we, maxAbsDiff };
}

/** Throws an `Error` with the {@link closeness} report when the two are not close. */
export function expectClose(actual: Numeric, expected: Numeric, tolerance: Tolerance = {}, label = 'values'): void {
  const report = closeness(actual, expected, tolerance);
  if (!report.ok) throw new Error(`${label}: ${report.reason}`);
}
