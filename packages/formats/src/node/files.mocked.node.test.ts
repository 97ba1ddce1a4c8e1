// The file helpers with node:fs wrapped: failures that a test cannot cause for real here (the tests run as root,
// where chmod 000 still reads: EACCES; a failing disk: EIO) are CheckpointErrors naming the file, and a
// .safetensors file is read by position — the length, the header, then one tensor at a time, never whole.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { thrownBy } from '@tide/backend/testing';
import { CheckpointError } from '../errors.js';
import { readJsonFile, readSafetensorsFile } from './files.js';

/** What the wrapped node:fs does: paths whose open fails with a code, reads that fail, and the reads made. */
const fake = vi.hoisted(() => ({
  openFails: new Map<string, string>(),
  readFails: undefined as string | undefined,
  reads: [] as { length: number; position: number }[],
  wholeFileReads: 0,
}));

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const systemError = (code: string, syscall: string, path?: string) =>
    Object.assign(new Error(`${code}: simulated failure, ${syscall}${path === undefined ? '' : ` '${path}'`}`), {
      code,
      syscall,
      path,
    });
  return {
    ...fs,
    openSync: (path: string, flags: number) => {
      const code = fake.openFails.get(path);
      if (code !== undefined) throw systemError(code, 'open', path);
      return fs.openSync(path, flags);
    },
    readSync: (fd: number, buffer: Uint8Array, offset: number, length: number, position: number) => {
      if (fake.readFails !== undefined) throw systemError(fake.readFails, 'read');
      fake.reads.push({ length, position });
      return fs.readSync(fd, buffer, offset, length, position);
    },
    readFileSync: (...args: Parameters<typeof fs.readFileSync>) => {
      fake.wholeFileReads++;
      return fs.readFileSync(...args);
    },
  };
});

const fixtureFile = fileURLToPath(
  new URL('../../../../tools/fixtures/data/gpt2-tiny/model.safetensors', import.meta.url),
);
const configFile = fileURLToPath(new URL('../../../../tools/fixtures/data/gpt2-tiny/config.json', import.meta.url));

beforeEach(() => {
  fake.openFails.clear();
  fake.readFails = undefined;
  fake.reads.length = 0;
  fake.wholeFileReads = 0;
});

describe('file helpers with a failing file system', () => {
  it('an unreadable file (EACCES, EPERM) is a CheckpointError naming it, with a permissions fix', () => {
    for (const code of ['EACCES', 'EPERM']) {
      fake.openFails.set(fixtureFile, code).set(configFile, code);
      for (const [read, what] of [
        [() => readSafetensorsFile(fixtureFile, 'the weights file'), 'the weights file'],
        [() => readJsonFile(configFile), 'a config.json file'],
      ] as const) {
        const e = thrownBy(read) as CheckpointError;
        expect(e).toBeInstanceOf(CheckpointError);
        expect(e.message).toMatch(
          new RegExp(
            `: expected ${what} that can be read, received permission denied \\(${code}\\)\\. Fix: give the user running TIDE read permission`,
          ),
        );
        expect((e.cause as { code?: string }).code).toBe(code);
      }
    }
  });

  it('another open or read failure (EMFILE, EIO) is a CheckpointError with its code', () => {
    fake.openFails.set(fixtureFile, 'EMFILE');
    expect(() => readSafetensorsFile(fixtureFile)).toThrow(
      /: expected a \.safetensors file that can be read, received EMFILE \(EMFILE: simulated failure, open/,
    );
    fake.openFails.clear();
    fake.readFails = 'EIO';
    const e = thrownBy(() => readSafetensorsFile(fixtureFile));
    expect(e).toBeInstanceOf(CheckpointError);
    expect(e.message).toMatch(/: expected a file that can be read, received EIO \(EIO: simulated failure, read\)\./);
  });
});

describe('readSafetensorsFile reads by position', () => {
  it('reads the length, then the header, then each tensor on its own: never the whole file', () => {
    const bytes = new Uint8Array(readFileSync(fixtureFile));
    fake.wholeFileReads = 0;
    const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    const f = readSafetensorsFile(fixtureFile);
    expect(fake.wholeFileReads).toBe(0);
    const largest = Math.max(...[...f.tensors.values()].map((t) => t.data.byteLength));
    expect(fake.reads.slice(0, 2)).toEqual([
      { length: 8, position: 0 },
      { length: n, position: 8 },
    ]);
    expect(fake.reads.length).toBe(2 + f.tensors.size);
    expect(Math.max(...fake.reads.slice(2).map((r) => r.length))).toBe(largest);
    expect(fake.reads.reduce((s, r) => s + r.length, 0)).toBe(bytes.length);
    // `only`: the length, the header and the tensors asked for.
    fake.reads.length = 0;
    readSafetensorsFile(fixtureFile, undefined, { only: ['ln_f.bias'] });
    expect(fake.reads.map((r) => r.length)).toEqual([8, n, 64]);
  });

  it('reads no tensor when the header fails its checks, and nothing when the file is too large', () => {
    const bytes = new Uint8Array(readFileSync(fixtureFile));
    const trailing = join(mkdtempSync(join(tmpdir(), 'tide-mocked-')), 'trailing.safetensors');
    writeFileSync(trailing, new Uint8Array([...bytes, 0, 0, 0, 0]));
    fake.reads.length = 0;
    expect(() => readSafetensorsFile(trailing)).toThrow(/that no tensor owns/);
    expect(fake.reads.map((r) => r.position)).toEqual([0, 8]);
    rmSync(dirname(trailing), { recursive: true });
    fake.reads.length = 0;
    expect(() => readSafetensorsFile(fixtureFile, undefined, { maxBytes: 100 })).toThrow(/the option maxBytes/);
    expect(fake.reads).toEqual([]);
  });
});
