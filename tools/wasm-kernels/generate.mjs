#!/usr/bin/env node
// Regenerates packages/backend/src/kernels/wasm-simd.binary.ts: TIDE's wasm SIMD kernels (kernels.ll.mjs, LLVM IR)
// compiled with LLVM 14 (Debian's `llvm-14`: opt and llc, no linker needed) to a wasm object that imports only its
// linear memory (`env.__linear_memory`, the wasm backend's own heap; copies compile to bulk memory's memory.copy), stripped of its custom sections (linking and
// relocation data: the code has no globals, data or calls to relocate), in two variants: the memory import as
// compiled (tfjs's plain and SIMD builds) and declared shared (its threaded build, whose heap is a
// SharedArrayBuffer). The output is deterministic; `--check` exits 1 when the committed file does not name the
// source's hash, or (where LLVM 14 is installed) differs from what the source compiles to.
//
// usage: node tools/wasm-kernels/generate.mjs [--check] [--llvm /usr/lib/llvm-14/bin]
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kernelsIR } from './kernels.ll.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', '..', 'packages', 'backend', 'src', 'kernels', 'wasm-simd.binary.ts');
const args = process.argv.slice(2);
const check = args.includes('--check');
const llvmAt = args.indexOf('--llvm');
const llvm = llvmAt >= 0 ? args[llvmAt + 1] : '/usr/lib/llvm-14/bin';

// ---------------------------------------------------------------------------------------------------------------
// The wasm binary format, as far as this needs it (https://webassembly.github.io/spec/core/binary/).
function readU32(bytes, at) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const b = bytes[at++];
    value |= (b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [value >>> 0, at];
    shift += 7;
  }
}
function u32(value) {
  const out = [];
  do {
    let b = value & 0x7f;
    value >>>= 7;
    if (value !== 0) b |= 0x80;
    out.push(b);
  } while (value !== 0);
  return out;
}
function sections(bytes) {
  const list = [];
  for (let at = 8; at < bytes.length;) {
    const id = bytes[at];
    const [size, body] = readU32(bytes, at + 1);
    list.push({ id, body: bytes.subarray(body, body + size) });
    at = body + size;
  }
  return list;
}
function assemble(list) {
  const parts = [Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00])];
  for (const s of list) parts.push(Uint8Array.from([s.id, ...u32(s.body.length)]), s.body);
  return Buffer.concat(parts);
}
/** The import section with its (only) import, the memory, given the limits `limits` (bytes). */
function withMemoryLimits(body, limits) {
  const [count, first] = readU32(body, 0);
  if (count !== 1) throw new Error(`generate: expected one import (the memory), found ${count}`);
  let at = first;
  for (let s = 0; s < 2; s++) {
    const [len, next] = readU32(body, at); // module and field names
    at = next + len;
  }
  if (body[at] !== 2) throw new Error(`generate: expected a memory import, found kind ${body[at]}`);
  return Buffer.concat([body.subarray(0, at), Uint8Array.from([2, ...limits])]);
}

// ---------------------------------------------------------------------------------------------------------------
// The committed file must name the current source's hash: checked first, and the only check without LLVM.
const sourceHash = createHash('sha256')
  .update(readFileSync(join(here, 'kernels.ll.mjs')))
  .digest('hex');
if (check) {
  let committed = '';
  try {
    committed = readFileSync(out, 'utf8');
  } catch {
    // no committed file yet: it differs
  }
  if (!committed.includes(`// Source sha256 ${sourceHash}.`)) {
    console.error(
      `generate: ${out} was not generated from this kernels.ll.mjs: run node tools/wasm-kernels/generate.mjs`,
    );
    process.exit(1);
  }
  if (!existsSync(join(llvm, 'llc')) || !existsSync(join(llvm, 'opt'))) {
    console.log(
      `generate: wasm-simd.binary.ts names this source's hash (no LLVM at ${llvm}: the binary was not rebuilt)`,
    );
    process.exit(0);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'tide-wasm-kernels-'));
let plain;
const run = (tool, args) => {
  try {
    execFileSync(join(llvm, tool), args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    console.error(`generate: ${tool} failed:\n${e.stderr?.toString() ?? e.message}`);
    process.exit(1);
  }
};
try {
  writeFileSync(join(dir, 'kernels.ll'), kernelsIR());
  run('opt', ['-O3', '-mattr=+simd128,+bulk-memory', join(dir, 'kernels.ll'), '-o', join(dir, 'kernels.bc')]);
  run('llc', [
    '-O3',
    '-mtriple=wasm32-unknown-unknown',
    '-mattr=+simd128,+bulk-memory',
    '-filetype=obj',
    join(dir, 'kernels.bc'),
    '-o',
    join(dir, 'kernels.o'),
  ]);
  plain = readFileSync(join(dir, 'kernels.o'));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const kept = sections(plain).filter((s) => s.id !== 0); // no custom sections
const unshared = assemble(kept);
// Shared: limits flags 3 (shared, with a maximum), minimum 0, maximum 65 536 pages (4 GiB, wasm32's bound).
const shared = assemble(
  kept.map((s) => (s.id === 2 ? { id: 2, body: withMemoryLimits(s.body, [3, 0, ...u32(65536)]) } : s)),
);
for (const bytes of [unshared, shared]) new WebAssembly.Module(bytes); // both validate
const text = `// Generated by tools/wasm-kernels/generate.mjs from tools/wasm-kernels/kernels.ll.mjs — do not edit.
// Source sha256 ${sourceHash}.

/** The kernels' wasm module, its memory import as compiled (${unshared.length} bytes). */
export const WASM_SIMD_KERNELS =
  '${unshared.toString('base64')}';

/** The same module with its memory import declared shared, for a heap in a SharedArrayBuffer (${shared.length} bytes). */
export const WASM_SIMD_KERNELS_SHARED =
  '${shared.toString('base64')}';
`;
if (check) {
  let committed = '';
  try {
    committed = readFileSync(out, 'utf8');
  } catch {
    // no committed file yet: it differs
  }
  if (committed !== text) {
    console.error(`generate: ${out} is not what kernels.ll.mjs compiles to: run node tools/wasm-kernels/generate.mjs`);
    process.exit(1);
  }
  console.log('generate: wasm-simd.binary.ts is up to date');
} else {
  writeFileSync(out, text);
  console.log(`generate: wrote ${out} (${unshared.length} / ${shared.length} bytes)`);
}
