/**
 * Reading and writing checkpoint files from Node (the `@tide/formats/node` entry; the main entry stays
 * browser-safe). Paths are checked before they are opened: a directory, a FIFO or a device is refused with a
 * {@link CheckpointError} instead of being read forever, as are a file the user may not read and one larger than
 * the `maxBytes` option. A `.safetensors` file is read by position: the header is validated whole against the
 * file's size before any tensor's bytes are read, and then each tensor is read and decoded on its own, so the
 * file is never held whole in memory. Outputs are written to a temporary file that is renamed at the end, so a
 * failed run never leaves a partial file.
 */
import {
  closeSync,
  constants,
  fstatSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  type Stats,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { describeValue } from '@tide/backend';
import { CheckpointError } from '../errors.js';
import {
  decodeTensors,
  headerLengthOf,
  parseSafetensorsHeader,
  type ReadSafetensorsOptions,
  type SafetensorsFile,
} from '../safetensors.js';

/** The default `maxBytes` of {@link readSafetensorsFile}: 4 GiB. */
const SAFETENSORS_MAX_BYTES = 4 * 1024 ** 3;
/** The default `maxBytes` of {@link readJsonFile}: 100 MB (a config.json is a few kB). */
const JSON_MAX_BYTES = 100_000_000;
/** The most bytes one `readSync` is asked for. */
const READ_CHUNK = 1 << 30;

/** Options of {@link readSafetensorsFile}. */
export interface ReadSafetensorsFileOptions extends ReadSafetensorsOptions {
  /** The largest file accepted, in bytes (default 4 GiB); a larger one is refused before it is read. */
  readonly maxBytes?: number;
}

/** Options of {@link readJsonFile}. */
export interface ReadJsonFileOptions {
  /** The largest file accepted, in bytes (default 100,000,000); a larger one is refused before it is read. */
  readonly maxBytes?: number;
}

const errorCode = (e: unknown): unknown => (e instanceof Error ? (e as { code?: unknown }).code : undefined);

/** A system error of the file system (EACCES, EIO, …) as a CheckpointError naming the file; anything else as is. */
function fileSystemError(file: string, what: string, error: unknown, fix: string): unknown {
  const code = errorCode(error);
  if (typeof code !== 'string') return error;
  const denied = code === 'EACCES' || code === 'EPERM';
  return new CheckpointError(file, {
    expected: `${what} that can be read`,
    received: denied ? `permission denied (${code})` : `${code} (${(error as Error).message.slice(0, 160)})`,
    fix: denied ? 'give the user running TIDE read permission on the file (chmod u+r), or run as its owner' : fix,
    cause: error,
  });
}

/** Checks that `file` is an existing regular file; `what` names it in the error (e.g. "the weights file"). */
export function checkRegularFile(file: string, what: string, fix: string): void {
  if (typeof file !== 'string' || file === '')
    throw new CheckpointError(what, { expected: 'a file path', received: describeValue(file), fix });
  let stat: Stats;
  try {
    stat = statSync(file);
  } catch (e) {
    const code = errorCode(e);
    if (code === 'ENOENT' || code === 'ENOTDIR')
      throw new CheckpointError(file, { expected: what, received: 'no such file', fix });
    throw fileSystemError(file, what, e, fix);
  }
  if (!stat.isFile()) throw notRegular(file, what, stat, fix);
}

function notRegular(file: string, what: string, stat: Stats, fix: string): CheckpointError {
  return new CheckpointError(file, {
    expected: `${what} (a regular file)`,
    received: stat.isDirectory() ? 'a directory' : 'a FIFO, socket or device',
    fix,
  });
}

function checkMaxBytes(maxBytes: unknown, option: string): number {
  if (typeof maxBytes === 'number' && maxBytes >= 0) return maxBytes;
  throw new CheckpointError(`${option}: option maxBytes`, {
    expected: 'a number of bytes ≥ 0',
    received: describeValue(maxBytes),
    fix: 'pass { maxBytes: n } or leave it out for the default',
  });
}

/**
 * Opens a regular file of at most `maxBytes` bytes for positioned reads; returns its descriptor and size (from
 * fstat of the open file). Non-blocking open: should a FIFO appear at the path after the check, the open does
 * not wait for a writer, and the fstat refuses it.
 */
function openRegularFile(file: string, what: string, fix: string, maxBytes: number): { fd: number; size: number } {
  checkRegularFile(file, what, fix);
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    throw fileSystemError(file, what, e, fix);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw notRegular(file, what, stat, fix);
    if (stat.size > maxBytes)
      throw new CheckpointError(file, {
        expected: `${what} of at most ${maxBytes} bytes (the option maxBytes)`,
        received: `${stat.size} bytes`,
        fix: `pass { maxBytes: ${stat.size} } or more to read it, if the machine has the memory`,
      });
    return { fd, size: stat.size };
  } catch (e) {
    closeSync(fd);
    throw fileSystemError(file, what, e, fix);
  }
}

/** Reads exactly `length` bytes at `position` into a fresh buffer. */
function readAt(fd: number, file: string, position: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let done = 0; done < length;) {
    let got: number;
    try {
      got = readSync(fd, out, done, Math.min(length - done, READ_CHUNK), position + done);
    } catch (e) {
      throw fileSystemError(file, 'a file', e, 'check the disk, then read the file again');
    }
    if (got === 0)
      throw new CheckpointError(file, {
        expected: `${length} bytes at byte ${position}`,
        received: `the end of the file after ${done}`,
        fix: 'the file changed while it was read; read it again once it is complete',
      });
    done += got;
  }
  return out;
}

/**
 * Reads and parses a `.safetensors` file by position: the 8-byte length, then the header, validated whole against
 * the file's size (the rules of `readSafetensors`), then each tensor's bytes (or only those of `options.only`),
 * decoded one at a time. A file larger than `options.maxBytes` (default 4 GiB) is refused before it is read.
 */
export function readSafetensorsFile(
  file: string,
  what = 'a .safetensors file',
  options: ReadSafetensorsFileOptions = {},
): SafetensorsFile {
  const maxBytes = checkMaxBytes(options.maxBytes ?? SAFETENSORS_MAX_BYTES, 'readSafetensorsFile');
  const { fd, size } = openRegularFile(file, what, 'pass the path of a .safetensors file', maxBytes);
  try {
    const n = headerLengthOf(readAt(fd, file, 0, Math.min(size, 8)), size, file);
    const header = parseSafetensorsHeader(readAt(fd, file, 8, n), size - 8 - n, file);
    return decodeTensors(header, options, file, (begin, length) => readAt(fd, file, 8 + n + begin, length), true);
  } finally {
    closeSync(fd);
  }
}

/** Reads a JSON object from a file (a config.json) of at most `options.maxBytes` bytes (default 100,000,000). */
export function readJsonFile(
  file: string,
  what = 'a config.json file',
  options: ReadJsonFileOptions = {},
): Record<string, unknown> {
  const maxBytes = checkMaxBytes(options.maxBytes ?? JSON_MAX_BYTES, 'readJsonFile');
  const opened = openRegularFile(
    file,
    what,
    'point --model at a folder with config.json and model.safetensors',
    maxBytes,
  );
  let text: string;
  try {
    text = new TextDecoder().decode(readAt(opened.fd, file, 0, opened.size));
  } finally {
    closeSync(opened.fd);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(file, {
      expected: 'valid JSON',
      received: (e as Error).message.slice(0, 120),
      fix: 'repair or regenerate the file',
    });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new CheckpointError(file, {
      expected: 'a JSON object',
      received: describeValue(value),
      fix: 'repair the file',
    });
  return value as Record<string, unknown>;
}

/** Writes `data` to `file` through a temporary file in the same folder, renamed at the end. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.partial`);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, file);
  } catch (error) {
    rmSync(tmp, { force: true });
    throw error;
  }
}
