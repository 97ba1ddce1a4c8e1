#!/usr/bin/env node
// Runs the browser lane (vitest browser mode in Chromium, webgl backend).
// Without a Chromium it fails loudly: the lane is never reported as passed when it did not run.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (!existsSync(chromium)) {
  console.error(
    `browser lane: expected Chromium at ${chromium}, found nothing. Fix: apt-get install -y chromium ` +
      '(or set CHROMIUM_PATH); run `npm run test:node` for the Node lane alone.',
  );
  process.exit(1);
}
// The report page the browser test opens: built packages, then `tide run` on the embedded default.
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
const result = spawnSync('npx', ['vitest', 'run', '--config', 'vitest.browser.config.ts', ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...process.env, CHROMIUM_PATH: chromium },
});
process.exit(result.status ?? 1);
