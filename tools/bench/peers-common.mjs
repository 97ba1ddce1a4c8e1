// What the peer benchmarks (forward-vs-ort.mjs, generation.mjs, training.mjs, ort-peer.mjs) share. Node's built-in
// modules only: ort-peer.mjs imports this, and its start-up must not include tfjs (it is timed as a whole process).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const here = dirname(fileURLToPath(import.meta.url));
export const root = join(here, '..', '..');
/** Debian's Python (python3-torch); the `python3` on PATH may be another one without torch. */
export const PYTHON = process.env.TIDE_BENCH_PYTHON ?? '/usr/bin/python3';

/**
 * `--name value` and `--flag` options: `spec` maps each name to its default (a boolean default makes it a flag).
 * An unknown option or a missing value ends the process with a one-line usage error (exit 2).
 */
export function parseArgs(script, argv, spec, usage) {
  const out = { ...spec };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const name = a.startsWith('--') ? a.slice(2) : undefined;
    const key = name?.replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (key === undefined || !(key in spec)) fail(script, `unknown argument "${a}"; usage: ${usage}`, 2);
    if (typeof spec[key] === 'boolean') {
      out[key] = true;
      continue;
    }
    const value = argv[++i];
    if (value === undefined || value.startsWith('--')) fail(script, `--${name} needs a value; usage: ${usage}`, 2);
    out[key] = typeof spec[key] === 'number' ? Number(value) : value;
    if (typeof spec[key] === 'number' && !Number.isFinite(out[key]))
      fail(script, `--${name}: expected a number, received "${value}"`, 2);
  }
  return out;
}

/** One line on stderr, then exit (1: a peer or a check failed; 2: usage). Never a stack trace. */
export function fail(script, line, code = 1) {
  console.error(`${script}: ${line}`);
  process.exit(code);
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Runs a command to completion; wall seconds around the whole process (spawn to exit). */
export function timed(command, args, options = {}) {
  const t0 = performance.now();
  const r = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 1 << 26, ...options });
  const wall_s = (performance.now() - t0) / 1000;
  return { wall_s, status: r.status, signal: r.signal, error: r.error, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** The last line of a process's stdout as JSON, or a one-line reason why not. */
export function lastJson(r, what) {
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status === 0) {
    try {
      return JSON.parse(line);
    } catch {
      /* fall through */
    }
  }
  throw new Error(`${what} failed: ${whyFailed(r)}`);
}

export function whyFailed(r) {
  if (r.error) return String(r.error.message ?? r.error).split('\n')[0];
  if (r.signal) return `killed by ${r.signal}`;
  const last = `${r.stderr}\n${r.stdout}`.trim().split('\n').filter(Boolean).pop() ?? '';
  return `exit ${r.status}: ${last.slice(0, 200)}`;
}

/** Why PyTorch cannot be a peer (undefined when `/usr/bin/python3 -c "import torch"` works). */
export function torchUnavailable() {
  const r = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (r.error || r.status !== 0)
    return `PyTorch peer unavailable: ${PYTHON} cannot import torch (apt-get install python3-torch libopenblas0-pthread)`;
  return undefined;
}

/** The ONNX Runtime peer: pinned, installed on demand into tools/bench/.peers (git-ignored), never by `npm ci`. */
export const ORT_VERSION = '1.22.0';
export const PEERS_DIR = join(here, '.peers');

/**
 * onnxruntime-node from tools/bench/.peers. Not a workspace dependency: its package is ≈ 240 MB (CPU binaries
 * for every platform) and its install script downloads CUDA libraries, so every `npm ci` would pay for a peer
 * only the benchmark needs. Installed here with --ignore-scripts (the CPU binaries ship in the package).
 */
export function requireOrt() {
  return createRequire(join(PEERS_DIR, 'peers.cjs'))('onnxruntime-node');
}

/** Why onnxruntime-node cannot be a peer (undefined when it loads); installs it into .peers when missing. */
export function ortUnavailable() {
  const load = () => {
    const ort = requireOrt();
    if (typeof ort.InferenceSession?.create !== 'function') throw new Error('loaded without InferenceSession');
  };
  try {
    load();
    return undefined;
  } catch {
    const npm = spawnSync(
      'npm',
      [
        'install',
        '--prefix',
        PEERS_DIR,
        '--no-save',
        '--no-package-lock',
        '--ignore-scripts',
        '--no-audit',
        '--no-fund',
        `onnxruntime-node@${ORT_VERSION}`,
      ],
      { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] },
    );
    try {
      load();
      return undefined;
    } catch (e) {
      return `ONNX Runtime peer unavailable: onnxruntime-node@${ORT_VERSION} does not load from ${PEERS_DIR} (${String(
        e?.message ?? e,
      )
        .split('\n')[0]
        .slice(
          0,
          100,
        )}; npm install exited ${npm.status}); install it by hand: npm install --prefix ${PEERS_DIR} --ignore-scripts onnxruntime-node@${ORT_VERSION}`;
    }
  }
}

/** Why the built `tide` CLI cannot run (undefined when packages/cli/dist exists). */
export function cliUnavailable() {
  try {
    readFileSync(join(root, 'packages', 'cli', 'dist', 'cli.js'));
    return undefined;
  } catch {
    return 'the tide CLI is not built (packages/cli/dist/cli.js missing): run `npm run build` first';
  }
}

export function machineLine() {
  return `${new Date().toISOString()} — Node ${process.versions.node}, ${availableParallelism()} cores (${cpus()[0]?.model?.trim() ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB`;
}

/** A markdown table (header row, separator, rows), columns padded. */
export function markdownTable(headers, rows) {
  const cells = [headers, ...rows].map((r) => r.map((c) => String(c)));
  const widths = headers.map((_, j) => Math.max(3, ...cells.map((r) => r[j].length)));
  const line = (r) => `| ${r.map((c, j) => c.padEnd(widths[j])).join(' | ')} |`;
  return [line(cells[0]), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...cells.slice(1).map(line)].join(
    '\n',
  );
}

export const seconds = (s) => (s === undefined || !Number.isFinite(s) ? '—' : `${s.toFixed(3)} s`);
export const ratio = (a, b) => (Number.isFinite(a / b) ? (a / b).toFixed(2) : '—');

export function writeJson(path, value) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}

// ---------------------------------------------------------------------------------------------------------------
// safetensors (F32 / I32 / I64 only), dependency-free: the ORT peer reads and writes with these.

const DTYPES = { F32: Float32Array, I32: Int32Array, I64: BigInt64Array };

/** name → { dtype, shape, data } (data a typed array copied out of the file). */
export function readSafetensors(file) {
  const bytes = readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
  const out = new Map();
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const Type = DTYPES[t.dtype];
    if (Type === undefined) throw new Error(`${file}: tensor "${name}" has dtype ${t.dtype} (F32, I32, I64 only)`);
    const [a, b] = t.data_offsets;
    const slice = bytes.subarray(8 + n + a, 8 + n + b);
    const copy = new Uint8Array(slice.length);
    copy.set(slice);
    out.set(name, { dtype: t.dtype, shape: t.shape, data: new Type(copy.buffer) });
  }
  return out;
}

/** Writes `{ name: { dtype, shape, data } }` as a safetensors file. */
export function writeSafetensors(file, tensors) {
  const header = {};
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const size = t.data.byteLength;
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const parts = [head, Buffer.from(json, 'utf8')];
  for (const t of Object.values(tensors)) parts.push(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  writeFileSync(file, Buffer.concat(parts));
}

/** max |a − b| over two float arrays of one length (Infinity when the lengths differ or a value is not finite). */
export function maxAbsDiff(a, b) {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

// ---------------------------------------------------------------------------------------------------------------
// ONNX graphs, read without the onnx package: ModelProto.graph (field 7) → GraphProto.node (field 1) →
// NodeProto.op_type (4) and domain (7). Nodes of subgraphs (If/Loop bodies) are not counted.

function varint(buf, pos) {
  let v = 0;
  let mul = 1;
  for (;;) {
    const b = buf[pos++];
    v += (b & 0x7f) * mul;
    if (b < 0x80) return [v, pos];
    mul *= 128;
  }
}

/** Calls `onField(field, wire, start, end)` for each field of the message in buf[start, end). */
function fields(buf, start, end, onField) {
  let pos = start;
  while (pos < end) {
    let key;
    [key, pos] = varint(buf, pos);
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) [, pos] = varint(buf, pos);
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      let len;
      [len, pos] = varint(buf, pos);
      onField(field, wire, pos, pos + len);
      pos += len;
    } else throw new Error(`unsupported protobuf wire type ${wire}`);
  }
}

/** The nodes of an ONNX model's main graph: `{ total, ops: { 'domain:op' | 'op': count } }`. */
export function onnxNodeCounts(file) {
  const buf = readFileSync(file);
  const ops = {};
  let total = 0;
  fields(buf, 0, buf.length, (f, _w, s, e) => {
    if (f !== 7) return;
    fields(buf, s, e, (g, _w2, ns, ne) => {
      if (g !== 1) return;
      let op = '?';
      let domain = '';
      fields(buf, ns, ne, (h, _w3, a, b) => {
        if (h === 4) op = buf.toString('utf8', a, b);
        if (h === 7) domain = buf.toString('utf8', a, b);
      });
      const name = domain && domain !== 'ai.onnx' ? `${domain}:${op}` : op;
      ops[name] = (ops[name] ?? 0) + 1;
      total++;
    });
  });
  return { total, ops };
}

/**
 * The child side of a driver that measures each run in its own process: `node driver.mjs --child MODE JSON` runs
 * `handlers[MODE](spec)`, prints its result as one JSON line and exits (1 with one line on failure). Returns
 * without doing anything in the parent process.
 */
export async function runChildMode(handlers) {
  if (process.argv[2] !== '--child') return;
  try {
    const run = handlers[process.argv[3]];
    if (run === undefined) throw new Error(`unknown child mode "${process.argv[3]}"`);
    process.stdout.write(`${JSON.stringify(await run(JSON.parse(process.argv[4])))}\n`);
    process.exit(0);
  } catch (e) {
    console.error(String(e?.message ?? e).split('\n')[0]);
    process.exit(1);
  }
}
