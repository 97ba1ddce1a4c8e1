#!/usr/bin/env node
// Runs the browser lane (vitest browser mode in Chromium, webgl backend).
// Without a Chromium it fails loudly: the lane is never reported as passed when it did not run.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

/**
 * A Chromium for the lane: CHROMIUM_PATH or Debian's /usr/bin/chromium; if missing, Debian's package through
 * apt-get when running as root, else Playwright's own browser download (where the network allows it). When
 * neither works, one line says how to get one.
 */
async function findChromium() {
  const wanted = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (existsSync(wanted)) return wanted;
  if (process.env.CHROMIUM_PATH === undefined && process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')) {
    console.error(
      "browser lane: no Chromium at /usr/bin/chromium; installing Debian's chromium with apt-get (log: /tmp/tide-browser-lane-apt.log)",
    );
    const apt = spawnSync(
      'sh',
      [
        '-c',
        'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /tmp/tide-browser-lane-apt.log 2>&1',
      ],
      { stdio: 'inherit' },
    );
    if (apt.status === 0 && existsSync('/usr/bin/chromium')) return '/usr/bin/chromium';
  }
  if (process.env.CHROMIUM_PATH === undefined) {
    const pw = spawnSync('npx', ['playwright', 'install', 'chromium'], {
      stdio: ['ignore', 'ignore', 'ignore'],
      timeout: 180_000,
    });
    if (pw.status === 0) {
      const { chromium } = await import('playwright-core');
      if (existsSync(chromium.executablePath())) return chromium.executablePath();
    }
  }
  return undefined;
}

const chromium = await findChromium();
if (chromium === undefined) {
  console.error(
    'browser lane: expected Chromium at ' +
      (process.env.CHROMIUM_PATH ?? '/usr/bin/chromium') +
      ', found nothing, and could not install one. ' +
      'Fix: apt-get install -y chromium (as root), or set CHROMIUM_PATH; run `npm run test:node` for the Node lane alone.',
  );
  process.exit(1);
}
// The report page the browser test opens: built packages (and the playground's static site), then `tide run` on
// the embedded default.
const prepare = [
  ['npx', ['nx', 'run-many', '-t', 'build', '--outputStyle=static']],
  ['node', ['packages/cli/bin/tide.mjs', 'run', '--tokens', '24', '--report', 'reports/browser-lane']],
];
for (const [cmd, args] of prepare) {
  const step = spawnSync(cmd, args, {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true' },
  });
  if (step.status !== 0) {
    console.error(`browser lane: preparing the report failed (${cmd} ${args.join(' ')} exited ${step.status})`);
    process.exit(1);
  }
}
// The packages' browser tests, then the built playground driven like a user (tools/playground/e2e).
const env = { ...process.env, CHROMIUM_PATH: chromium };
const lanes = [
  ['vitest', 'run', '--config', 'vitest.browser.config.ts', ...process.argv.slice(2)],
  ['vitest', 'run', '--config', 'tools/playground/vitest.e2e.config.ts'],
];
let failed = 0;
for (const args of lanes) {
  const result = spawnSync('npx', args, { stdio: 'inherit', env });
  if (result.status !== 0) failed = result.status ?? 1;
}
process.exit(failed);
