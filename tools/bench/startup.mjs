#!/usr/bin/env node
// Start-up of the `tide` program, whole process (`node packages/cli/bin/tide.mjs …` on the built packages):
// `tide --help` (commander only: the engine is not loaded) and `tide inspect` on the GPT-2 fixture (the engine
// without gradients, one checkpoint read), medians of N alternating runs, against the speed issue's targets
// (0.3 s and 0.6 s on this machine). Nothing else: the forward's start-up is inside forward-vs-ort.mjs's
// whole-process figures.
//
// usage: node tools/bench/startup.mjs [--repeats 7] [--json FILE]
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fail, median, parseArgs, root, timed } from './peers-common.mjs';

const SCRIPT = 'startup';
const USAGE = 'node tools/bench/startup.mjs [--repeats 7] [--json FILE]';
const o = parseArgs(SCRIPT, process.argv.slice(2), { repeats: 7, json: '', smoke: false, keep: false }, USAGE);
const repeats = o.smoke ? 2 : o.repeats;
const tide = join(root, 'packages/cli/bin/tide.mjs');
const cases = [
  { name: 'tide --help', args: ['--help'], target_s: 0.3 },
  {
    name: 'tide inspect (GPT-2 fixture)',
    args: ['inspect', '--model', join(root, 'tools/fixtures/data/gpt2-tiny')],
    target_s: 0.6,
  },
];
const times = cases.map(() => []);
for (let r = 0; r < repeats + 1; r++) {
  cases.forEach((c, i) => {
    const run = timed(process.execPath, [tide, ...c.args], { cwd: root });
    if (run.status !== 0) fail(SCRIPT, `${c.name} exited ${run.status}: ${run.stderr.split('\n')[0]}`);
    if (r > 0) times[i].push(run.wall_s); // the first round warms the file cache
  });
}
const rows = cases.map((c, i) => ({ ...c, median_s: median(times[i]), runs: times[i] }));
console.log(`start-up, whole process, median of ${repeats} alternating runs (after one warm-up round)\n`);
console.log('| command                      | median / target | median  | target |');
console.log('| ---------------------------- | --------------- | ------- | ------ |');
for (const r of rows)
  console.log(
    `| ${r.name.padEnd(28)} | ${(r.median_s / r.target_s).toFixed(2).padEnd(15)} | ${`${r.median_s.toFixed(3)} s`.padEnd(7)} | ${`${r.target_s} s`.padEnd(6)} |`,
  );
const out = o.json || join(root, 'reports/bench/startup.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), rows }, null, 1)}\n`);
console.log(`JSON: ${out}`);
