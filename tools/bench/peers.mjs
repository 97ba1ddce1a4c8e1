#!/usr/bin/env node
// `npm run bench:peers`: start-up (startup.mjs: `tide --help` and `tide inspect`), then the three peer benchmarks
// in sequence — forward-vs-ort.mjs (tide forward against ONNX
// Runtime and PyTorch, whole processes, and kernels per layer), generation.mjs (tokens per second with the
// key/value cache against PyTorch with past keys/values; run twice: the GPT-2 shapes, then the embedded model's
// architecture with 256 positions over a 64-token prompt and 192 new tokens, the cache's speed-up at 256 tokens of
// context) and training.mjs (training tokens per second against PyTorch, and a profile of one TIDE step). Each
// writes its JSON under reports/bench/.
//
// usage: npm run bench:peers [-- --smoke] [--repeats N] [--keep]
//   (the options are passed to every driver; a driver that fails, e.g. for want of a peer, says why in one line,
//   and the others still run; the exit status is then 1)
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { here } from './peers-common.mjs';

const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--smoke' || a === '--keep') continue;
  if (a === '--repeats' && /^\d+$/.test(args[i + 1] ?? '')) {
    i++;
    continue;
  }
  console.error(`bench:peers: unknown argument "${a}"; usage: npm run bench:peers [-- --smoke] [--repeats N] [--keep]`);
  process.exit(2);
}
const smoke = args.includes('--smoke');
const repeats = args[args.indexOf('--repeats') + 1] ?? '3';
const embedded = [
  '--shapes',
  'embedded-256',
  '--prompt-tokens',
  smoke ? '16' : '64',
  '--new-tokens',
  smoke ? '40' : '192',
  '--no-cache-repeats',
  args.includes('--repeats') ? repeats : '3',
  '--json',
  join(here, '..', '..', 'reports', 'bench', `generation-embedded${smoke ? '.smoke' : ''}.json`),
];
const failed = [];
for (const [driver, extra] of [
  ['startup.mjs', []],
  ['forward-vs-ort.mjs', []],
  ['generation.mjs', []],
  ['generation.mjs', embedded],
  ['training.mjs', []],
]) {
  const all = [...args, ...extra];
  console.log(`\n=== ${driver} ${all.join(' ')}`.trimEnd());
  const r = spawnSync(process.execPath, [join(here, driver), ...all], { stdio: 'inherit' });
  if (r.status !== 0) failed.push(driver);
}
if (failed.length > 0) {
  console.error(`\nbench:peers: ${failed.join(', ')} failed (see above)`);
  process.exit(1);
}
