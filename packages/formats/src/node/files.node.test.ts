// File helpers of @tide/formats/node (docs/checkpoints.md): a path is checked before it is opened, so a
// directory, a missing file, a FIFO, a device, an unreadable file or one over the size limit is a CheckpointError
// and never a read that waits forever; a .safetensors file is read by position (header first, then each tensor);
// outputs go through a temporary file renamed at the end, so a failed write leaves nothing.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { thrownBy } from '@tide/backend/testing';
import { TideError } from '@tide/backend';
import { CheckpointError } from '../errors.js';
import { readSafetensors, writeSafetensors } from '../safetensors.js';
import { checkRegularFile, readJsonFile, readSafetensorsFile, writeFileAtomic } from './files.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tide-files-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A fresh empty folder inside the test folder. */
function folder(name: string): string {
  const d = join(dir, name);
  mkdirSync(d);
  return d;
}

/** Makes a FIFO with mkfifo; undefined when mkfifo is unavailable. */
function makeFifo(path: string): string | undefined {
  const made = spawnSync('mkfifo', [path]);
  return made.error === undefined && made.status === 0 ? path : undefined;
}

/**
 * Opens the FIFO's write end in a child process that closes it after a second: should the code under test
 * open the FIFO after all, its read sees end-of-file instead of blocking the test run forever (and then
 * fails the message checks). Killed when the test ends.
 */
function fifoGuard(path: string): ChildProcess {
  return spawn('sh', ['-c', 'exec 3>"$1"; sleep 1', 'sh', path], { stdio: 'ignore' });
}

const fixtureFile = fileURLToPath(
  new URL('../../../../tools/fixtures/data/gpt2-tiny/model.safetensors', import.meta.url),
);

/**
 * A file of `size` bytes that starts with a safetensors header (length + JSON, padded to 8 bytes) and whose data
 * section is a hole: `truncate` makes it sparse, so a multi-GiB file costs no disk and no time to make.
 */
function sparseSafetensors(
  path: string,
  header: Record<string, unknown>,
  dataLength: number,
  headerLength?: bigint,
): string {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const n = json.length + ((8 - (json.length % 8)) % 8);
  const head = new Uint8Array(8 + n).fill(0x20, 8);
  new DataView(head.buffer).setBigUint64(0, headerLength ?? BigInt(n), true);
  head.set(json, 8);
  writeFileSync(path, head);
  truncateSync(path, 8 + n + dataLength);
  return path;
}

const fifo = (() => {
  const probe = mkdtempSync(join(tmpdir(), 'tide-fifo-probe-'));
  const ok = makeFifo(join(probe, 'p')) !== undefined;
  rmSync(probe, { recursive: true, force: true });
  return ok;
})();
if (!fifo)
  console.warn(
    'files.node.test.ts: mkfifo is unavailable here, so the FIFO cases are skipped (they need a POSIX mkfifo).',
  );

describe('checkRegularFile', () => {
  it('accepts a regular file, and a symbolic link to one', () => {
    const file = join(dir, 'regular.txt');
    writeFileSync(file, 'x');
    expect(() => checkRegularFile(file, 'a text file', 'pass a file')).not.toThrow();
    const link = join(dir, 'regular-link.txt');
    symlinkSync(file, link);
    expect(() => checkRegularFile(link, 'a text file', 'pass a file')).not.toThrow();
  });

  it('refuses a directory, naming the path, what was wanted and the fix', () => {
    const d = folder('a-directory');
    const e = thrownBy(() => checkRegularFile(d, 'the weights file', 'pass model.safetensors'));
    expect(e).toBeInstanceOf(CheckpointError);
    expect(e).toBeInstanceOf(TideError);
    expect(e.message).toBe(
      `${d}: expected the weights file (a regular file), received a directory. Fix: pass model.safetensors`,
    );
  });

  it('refuses a missing file and a dangling symbolic link', () => {
    const missing = join(dir, 'nothing-here.json');
    expect(thrownBy(() => checkRegularFile(missing, 'a config', 'fix it')).message).toBe(
      `${missing}: expected a config, received no such file. Fix: fix it`,
    );
    const dangling = join(dir, 'dangling-link');
    symlinkSync(join(dir, 'never-made'), dangling);
    expect(() => checkRegularFile(dangling, 'a config', 'fix it')).toThrow(CheckpointError);
    expect(() => checkRegularFile(dangling, 'a config', 'fix it')).toThrow(/received no such file/);
  });

  it('refuses an empty or non-string path', () => {
    for (const bad of ['', undefined, 42, null]) {
      const e = thrownBy(() => checkRegularFile(bad as never, 'the input file', 'pass --input FILE'));
      expect(e).toBeInstanceOf(CheckpointError);
      expect(e.message).toMatch(/^the input file: expected a file path, received .*\. Fix: pass --input FILE$/);
    }
  });

  it('refuses a character device (/dev/null) without reading it', () => {
    const e = thrownBy(() => checkRegularFile('/dev/null', 'the input file', 'pass a file'));
    expect(e).toBeInstanceOf(CheckpointError);
    expect(e.message).toBe(
      '/dev/null: expected the input file (a regular file), received a FIFO, socket or device. Fix: pass a file',
    );
  });

  it.skipIf(!fifo)('refuses a FIFO (and a link to one) without opening it: no reader waits for a writer', () => {
    const path = makeFifo(join(dir, 'weights.fifo'))!;
    const link = join(dir, 'weights-link.safetensors');
    symlinkSync(path, link);
    const guard = fifoGuard(path);
    try {
      for (const check of [
        () => checkRegularFile(path, 'the weights file', 'pass a file'),
        () => readSafetensorsFile(path),
        () => readJsonFile(path),
        () => readSafetensorsFile(link),
      ]) {
        const e = thrownBy(check);
        expect(e).toBeInstanceOf(CheckpointError);
        expect(e.message).toMatch(/: expected .*\(a regular file\), received a FIFO, socket or device\./);
      }
    } finally {
      guard.kill('SIGKILL');
    }
  });
});

describe('readSafetensorsFile', () => {
  it('reads a .safetensors file', () => {
    const file = join(dir, 'ok.safetensors');
    writeFileSync(file, writeSafetensors({ w: { dtype: 'F32', shape: [2], data: [1.5, -2] } }, { format: 'pt' }));
    const read = readSafetensorsFile(file);
    expect(read.metadata).toEqual({ format: 'pt' });
    expect(Array.from(read.tensors.get('w')!.data)).toEqual([1.5, -2]);
  });

  it('names the file in a parse error, and the wanted file in a missing one', () => {
    const file = join(dir, 'truncated.safetensors');
    writeFileSync(file, new Uint8Array([1, 2, 3]));
    const e = thrownBy(() => readSafetensorsFile(file));
    expect(e).toBeInstanceOf(CheckpointError);
    expect(e.message).toMatch(new RegExp(`^${file.replace(/[.\\/]/g, '\\$&')}: expected at least 8 bytes`));
    const missing = join(dir, 'none.safetensors');
    expect(thrownBy(() => readSafetensorsFile(missing, 'the weights file model.safetensors')).message).toBe(
      `${missing}: expected the weights file model.safetensors, received no such file. Fix: pass the path of a .safetensors file`,
    );
    expect(() => readSafetensorsFile(folder('weights-dir'))).toThrow(
      /expected a \.safetensors file \(a regular file\), received a directory/,
    );
  });
});

describe('readSafetensorsFile: positioned reads, bounded memory', () => {
  it('reads the GPT-2 fixture exactly as readSafetensors reads its bytes, and `only` a part of it', () => {
    const bytes = new Uint8Array(readFileSync(fixtureFile));
    const fromBytes = readSafetensors(bytes);
    const fromFile = readSafetensorsFile(fixtureFile);
    expect(fromFile.metadata).toEqual(fromBytes.metadata);
    expect([...fromFile.tensors.keys()]).toEqual([...fromBytes.tensors.keys()]);
    for (const [name, t] of fromBytes.tensors) expect(fromFile.tensors.get(name), name).toEqual(t);
    const part = readSafetensorsFile(fixtureFile, undefined, { only: ['ln_f.bias', 'wte.weight'] });
    expect([...part.tensors.keys()]).toEqual(['wte.weight', 'ln_f.bias']);
    expect(part.tensors.get('ln_f.bias')).toEqual(fromBytes.tensors.get('ln_f.bias'));
  });

  it('gives the same result or the same CheckpointError as readSafetensors on fuzzed files (seeded)', () => {
    const bytes = new Uint8Array(readFileSync(fixtureFile));
    const file = join(dir, 'fuzzed.safetensors');
    const outcome = (read: () => unknown) => {
      try {
        const f = read() as { tensors: Map<string, unknown> };
        return [...f.tensors.keys()].join();
      } catch (e) {
        expect(e).toBeInstanceOf(CheckpointError);
        return (e as Error).message;
      }
    };
    fc.assert(
      fc.property(
        fc.nat({ max: bytes.length }),
        fc.array(fc.tuple(fc.nat({ max: 2600 }), fc.nat(255)), { maxLength: 3 }),
        (length, edits) => {
          const mutated = bytes.slice(0, length);
          for (const [at, value] of edits) if (at < mutated.length) mutated[at] = value;
          writeFileSync(file, mutated);
          expect(outcome(() => readSafetensorsFile(file))).toBe(outcome(() => readSafetensors(mutated, file)));
        },
      ),
      { seed: 7, numRuns: 100 },
    );
  });

  it('refuses a file over maxBytes (default 4 GiB) before reading it, naming the option', () => {
    const huge = sparseSafetensors(join(dir, 'huge.safetensors'), {}, 5 * 1024 ** 3);
    const e = thrownBy(() => readSafetensorsFile(huge, 'the weights file'));
    expect(e).toBeInstanceOf(CheckpointError);
    expect(e.message).toBe(
      `${huge}: expected the weights file of at most 4294967296 bytes (the option maxBytes), received 5368709136 bytes. Fix: pass { maxBytes: 5368709136 } or more to read it, if the machine has the memory`,
    );
    expect(() => readSafetensorsFile(fixtureFile, undefined, { maxBytes: 1000 })).toThrow(
      /expected a \.safetensors file of at most 1000 bytes \(the option maxBytes\), received 42272 bytes/,
    );
    for (const maxBytes of [-1, NaN, '100'])
      expect(() => readSafetensorsFile(fixtureFile, undefined, { maxBytes: maxBytes as never })).toThrow(
        /^readSafetensorsFile: option maxBytes: expected a number of bytes ≥ 0/,
      );
  });

  it('refuses a header over the format limit of 100,000,000 bytes without reading it', () => {
    const file = sparseSafetensors(join(dir, 'big-header.safetensors'), {}, 200_000_000, 150_000_000n);
    expect(() => readSafetensorsFile(file)).toThrow(
      /: header: expected a header length ≤ 100000000 bytes \(the format's limit\), received 150000000\./,
    );
  });

  it('validates a 1 GiB file from its header and reads only the tensors asked for', () => {
    const gib = 2 ** 30;
    const header = {
      big: { dtype: 'F32', shape: [gib / 4], data_offsets: [0, gib] },
      small: { dtype: 'F32', shape: [2], data_offsets: [gib, gib + 8] },
    };
    const file = sparseSafetensors(join(dir, 'sparse.safetensors'), header, gib + 8);
    const before = process.memoryUsage().arrayBuffers;
    const f = readSafetensorsFile(file, undefined, { only: ['small'] });
    expect([...f.tensors.keys()]).toEqual(['small']);
    expect(Array.from(f.tensors.get('small')!.data)).toEqual([0, 0]);
    expect(readSafetensorsFile(file, undefined, { only: [] }).tensors.size).toBe(0);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024 ** 2);
    // The header is still checked against the file's size: one byte more is a trailing byte.
    truncateSync(file, statSync(file).size + 1);
    expect(() => readSafetensorsFile(file, undefined, { only: [] })).toThrow(
      /tensor "small": expected data_offsets ending at 1073741833, .*leaving bytes \[1073741832, 1073741833\) that no tensor owns/,
    );
  });

  it.skipIf(process.getuid?.() === 0)(
    'refuses a file it may not read (chmod 000) with a CheckpointError (as root, chmod 000 still reads: see files.mocked.node.test.ts)',
    () => {
      const file = join(dir, 'unreadable.safetensors');
      writeFileSync(file, readFileSync(fixtureFile));
      chmodSync(file, 0o000);
      for (const read of [() => readSafetensorsFile(file), () => readJsonFile(file)]) {
        const e = thrownBy(read);
        expect(e).toBeInstanceOf(CheckpointError);
        expect(e.message).toMatch(/: expected .* that can be read, received permission denied \(EACCES\)\./);
      }
    },
  );
});

describe('readJsonFile', () => {
  it('reads a JSON object', () => {
    const file = join(dir, 'config.json');
    writeFileSync(file, '{ "n_embd": 16, "nested": { "a": [1, 2] } }');
    expect(readJsonFile(file)).toEqual({ n_embd: 16, nested: { a: [1, 2] } });
  });

  it('refuses invalid JSON, naming the file and the parser message', () => {
    const file = join(dir, 'broken.json');
    writeFileSync(file, '{ "n_embd": 16,');
    const e = thrownBy(() => readJsonFile(file));
    expect(e).toBeInstanceOf(CheckpointError);
    expect(e.message).toMatch(
      new RegExp(
        `^${file.replace(/[.\\/]/g, '\\$&')}: expected valid JSON, received .+\\. Fix: repair or regenerate the file$`,
      ),
    );
  });

  it('refuses JSON that is not an object: an array, null, a number, a string', () => {
    const cases: [string, string][] = [
      ['[1, 2]', 'an array of length 2'],
      ['null', 'null'],
      ['3', '3'],
      ['"gpt2"', '"gpt2"'],
    ];
    for (const [text, received] of cases) {
      const file = join(dir, 'not-object.json');
      writeFileSync(file, text);
      const e = thrownBy(() => readJsonFile(file));
      expect(e, text).toBeInstanceOf(CheckpointError);
      expect(e.message, text).toBe(`${file}: expected a JSON object, received ${received}. Fix: repair the file`);
    }
  });

  it('refuses a file over maxBytes (default 100,000,000) before reading it', () => {
    const file = join(dir, 'big.json');
    writeFileSync(file, '{}');
    truncateSync(file, 200_000_000);
    expect(thrownBy(() => readJsonFile(file)).message).toBe(
      `${file}: expected a config.json file of at most 100000000 bytes (the option maxBytes), received 200000000 bytes. Fix: pass { maxBytes: 200000000 } or more to read it, if the machine has the memory`,
    );
    writeFileSync(file, '{"n_embd": 16}');
    expect(() => readJsonFile(file, undefined, { maxBytes: 4 })).toThrow(
      /of at most 4 bytes \(the option maxBytes\), received 14 bytes/,
    );
    expect(readJsonFile(file, undefined, { maxBytes: 14 })).toEqual({ n_embd: 16 });
  });

  it('reads JSON nested 5,000 levels deep without overflowing the stack', () => {
    const file = join(dir, 'deep.json');
    writeFileSync(file, `{"a": ${'['.repeat(5000)}${']'.repeat(5000)}}`);
    expect(Object.keys(readJsonFile(file))).toEqual(['a']);
  });

  it('refuses a directory and a missing file with the default description', () => {
    const d = folder('config-dir');
    expect(thrownBy(() => readJsonFile(d)).message).toBe(
      `${d}: expected a config.json file (a regular file), received a directory. Fix: point --model at a folder with config.json and model.safetensors`,
    );
    expect(() => readJsonFile(join(dir, 'absent.json'))).toThrow(/expected a config\.json file, received no such file/);
  });
});

describe('writeFileAtomic', () => {
  it('writes text and bytes, leaving only the target in its folder', () => {
    const out = folder('atomic-write');
    writeFileAtomic(join(out, 'config.json'), '{"a":1}\n');
    writeFileAtomic(join(out, 'model.safetensors'), new Uint8Array([1, 2, 3, 250]));
    expect(readdirSync(out).sort()).toEqual(['config.json', 'model.safetensors']);
    expect(readFileSync(join(out, 'config.json'), 'utf8')).toBe('{"a":1}\n');
    expect([...readFileSync(join(out, 'model.safetensors'))]).toEqual([1, 2, 3, 250]);
  });

  it('replaces an existing target by renaming a new file over it (a hard link keeps the old contents)', () => {
    const out = folder('atomic-replace');
    const target = join(out, 'output.safetensors');
    writeFileSync(target, 'old contents');
    const oldInode = statSync(target).ino;
    // A reader holding the old file (here: a second name for it) sees the old contents whole, never a mix.
    linkSync(target, join(out, 'reader-view'));
    writeFileAtomic(target, 'new');
    expect(readFileSync(target, 'utf8')).toBe('new');
    expect(readFileSync(join(out, 'reader-view'), 'utf8')).toBe('old contents');
    expect(statSync(target).ino).not.toBe(oldInode);
    expect(readdirSync(out).sort()).toEqual(['output.safetensors', 'reader-view']);
  });

  it('throws when the target folder is missing, and creates nothing', () => {
    const out = folder('atomic-missing');
    const target = join(out, 'no-such-folder', 'config.json');
    expect(() => writeFileAtomic(target, 'x')).toThrow(/ENOENT/);
    expect(readdirSync(out)).toEqual([]);
  });

  it('throws when the rename fails (the target is a directory) and removes its temporary file', () => {
    const out = folder('atomic-rename-fails');
    const target = join(out, 'model.safetensors');
    mkdirSync(target);
    writeFileSync(join(target, 'inside'), 'kept');
    expect(() => writeFileAtomic(target, 'x')).toThrow();
    expect(readdirSync(out)).toEqual(['model.safetensors']);
    expect(statSync(target).isDirectory()).toBe(true);
    expect(readFileSync(join(target, 'inside'), 'utf8')).toBe('kept');
  });
});
