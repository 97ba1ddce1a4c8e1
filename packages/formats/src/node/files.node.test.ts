// File helpers of @tide/formats/node (docs/checkpoints.md): a path is checked before it is opened, so a
// directory, a missing file, a FIFO or a device is a CheckpointError and never a read that waits forever;
// outputs go through a temporary file renamed at the end, so a failed write leaves nothing.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { thrownBy } from '@tide/backend/testing';
import { TideError } from '@tide/backend';
import { CheckpointError } from '../errors.js';
import { writeSafetensors } from '../safetensors.js';
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
