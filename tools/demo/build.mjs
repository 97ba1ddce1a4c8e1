// Builds every package (nx, cached) so that the demos can import the packages' dist/.
import { execFileSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export function buildPackages() {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
  execFileSync('npx', ['nx', 'run-many', '-t', 'build', '--outputStyle=static', '--verbose=false'], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true' },
  });
}
