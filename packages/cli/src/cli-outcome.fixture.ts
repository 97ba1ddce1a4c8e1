// Test helpers for the CLI's error contract (docs/checkpoints.md): run `tide` in-process and check that a failure
// is one typed line with exit 1 or 2 — never "unexpected error", never a stack trace — and writes no output file.
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { runCli } from './cli.js';

/** What a `tide` run printed and returned. */
export interface CliOutcome {
  readonly code: number;
  readonly out: string[];
  readonly err: string[];
}

/** Runs `tide` with `argv` in-process, collecting its lines. */
export async function tide(...argv: string[]): Promise<CliOutcome> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

/**
 * `tide forward` of `modelDir` on `input` into `work/out.safetensors` (on cpu, plus `extra` flags); a failure must
 * leave no output file.
 */
export async function forwardOutcome(
  work: string,
  modelDir: string,
  input: string,
  extra: readonly string[] = [],
): Promise<CliOutcome & { output: string }> {
  const output = join(work, 'out.safetensors');
  rmSync(output, { force: true });
  const r = await tide(
    'forward',
    '--model',
    modelDir,
    '--input',
    input,
    '--output',
    output,
    '--backend',
    'cpu',
    ...extra,
  );
  if (r.code !== 0) expect(existsSync(output), 'no output file after a failure').toBe(false);
  return { ...r, output };
}

/** A failure with exit `code`: one line, typed (expected … received …), no stack trace. */
export function expectTypedFailure(r: CliOutcome, code = 1): void {
  expect(r.code).toBe(code);
  expect(r.err).toHaveLength(1);
  expect(r.err[0]).not.toMatch(/unexpected error|\n| {4}at /);
  expect(r.err[0]).toMatch(/^tide: .*expected .*received/);
}

/** Success, or a failure that keeps the contract (exit 1 or 2, one typed line or a usage line). */
export function expectTypedFailureOrSuccess(r: CliOutcome): void {
  if (r.code === 0) return;
  expect([1, 2]).toContain(r.code);
  expect(r.err).toHaveLength(1);
  expect(r.err[0]).not.toMatch(/unexpected error|\n| {4}at /);
  expect(r.err[0]).toMatch(/^tide: .*expected .*received|^tide: (unknown|required|option|error)/);
}
