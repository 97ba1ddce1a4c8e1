// Property-based fuzzing of `tide forward`'s input handling, in-process (seeded, so a failure reproduces):
// malformed configs, weights and inputs derived from the committed fixtures. Every run either succeeds or ends
// with one typed line (exit 1 or 2) — never "unexpected error", never a stack trace, never an output file.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { fixtureDir } from '@tide/fixtures';
import { writeSafetensors, type TensorToWrite } from '@tide/formats';
import { expectTypedFailureOrSuccess, forwardOutcome } from './cli-outcome.fixture.js';

const work = mkdtempSync(join(tmpdir(), 'tide-fuzz-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Arbitrary JSON values, some deeply nested, for config fields. */
const jsonValue = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer({ min: -5, max: 100 }),
  fc.double({ noNaN: false }),
  fc.string({ maxLength: 8 }),
  fc.constantFrom('toString', '__proto__', 'relu', 'gelu', 'gelu_new', 'gpt2'),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.nat({ max: 3000 }).map((depth) => JSON.parse('['.repeat(depth) + ']'.repeat(depth))),
);

describe('tide forward under fuzzing', () => {
  it('malformed config.json fields never crash untyped', async () => {
    const name = 'encoder-postln-relu';
    const base = JSON.parse(readFileSync(join(fixtureDir(name), 'config.json'), 'utf8')) as Record<string, unknown>;
    const dir = join(work, 'model');
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...Object.keys(base), 'tide', 'model_type'), jsonValue, async (key, value) => {
        rmSync(dir, { recursive: true, force: true });
        mkdirSync(dir, { recursive: true });
        copyFileSync(join(fixtureDir(name), 'model.safetensors'), join(dir, 'model.safetensors'));
        writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...base, [key]: value }));
        expectTypedFailureOrSuccess(await forwardOutcome(work, dir, join(fixtureDir(name), 'io.safetensors')));
      }),
      { seed: 11, numRuns: 40 },
    );
  });

  it('inputs of random names, dtypes, shapes and values never crash untyped', async () => {
    const dtype = fc.constantFrom<TensorToWrite['dtype']>('F32', 'I32', 'I64');
    const shape = fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 0, maxLength: 4 });
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('input', 'input_ids', 'token_weights', 'x'),
        dtype,
        shape,
        fc.constantFrom(0, 1, NaN, -7, 1e30),
        fc.boolean(),
        async (name, dt, dims, fill, gpt) => {
          const size = dims.reduce((a, b) => a * b, 1);
          const data =
            dt === 'F32'
              ? new Float32Array(size).fill(fill)
              : new Int32Array(size).fill(Number.isFinite(fill) && Math.abs(fill) < 2 ** 31 ? fill : 3);
          const file = join(work, 'input.safetensors');
          writeFileSync(file, writeSafetensors({ [name]: { dtype: dt, shape: dims, data } }));
          const model = fixtureDir(gpt ? 'gpt2-tiny' : 'encoder-postln-relu');
          expectTypedFailureOrSuccess(await forwardOutcome(work, model, file));
        },
      ),
      { seed: 5, numRuns: 60 },
    );
  });

  it('truncated or bit-flipped weights never crash untyped and never give exit 0 with shifted tensors', async () => {
    const name = 'gpt2-tiny';
    const bytes = readFileSync(join(fixtureDir(name), 'model.safetensors'));
    const dir = join(work, 'weights');
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: bytes.length - 1 }),
        fc.nat({ max: 255 }),
        fc.boolean(),
        async (at, value, truncate) => {
          rmSync(dir, { recursive: true, force: true });
          mkdirSync(dir, { recursive: true });
          copyFileSync(join(fixtureDir(name), 'config.json'), join(dir, 'config.json'));
          const mutated = truncate ? bytes.subarray(0, at) : Buffer.from(bytes);
          if (!truncate) mutated[at] = value;
          writeFileSync(join(dir, 'model.safetensors'), mutated);
          const r = await forwardOutcome(work, dir, join(fixtureDir(name), 'io.safetensors'));
          expectTypedFailureOrSuccess(r);
          if (truncate) expect(r.code).not.toBe(0); // a shorter file can never be the same checkpoint
        },
      ),
      { seed: 3, numRuns: 60 },
    );
  });
});
