#!/usr/bin/env node
// What CI can check of a release without publishing: `changeset status` (every changed package has a
// changeset, or the release is cut) and `npm publish --dry-run` of every published package (its files, its
// version, its publish config). Run after a build (`npm run release:check` builds first).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
try {
  const status = run('npx', ['changeset', 'status'], root);
  const pending = status.split('\n').filter((l) => /^🦋\s+- @/.test(l)).length;
  console.log(
    `changeset status: ok (${pending === 0 ? 'nothing pending: the release is cut' : `${pending} package(s) with pending changesets`})`,
  );
  for (const dir of readdirSync(join(root, 'packages')).map((d) => join(root, 'packages', d))) {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    if (pkg.private) continue;
    const out = run('npm', ['publish', '--dry-run', '--json'], dir);
    const parsed = JSON.parse(out.slice(out.indexOf('{')));
    const report = parsed[pkg.name] ?? parsed; // npm 11 keys the report by package name
    const files = report.files.map((f) => f.path);
    if (!files.includes('dist/index.js'))
      throw new Error(`${pkg.name}: npm publish --dry-run would publish no dist/index.js (build first)`);
    if (!/^\d+\.\d+\.\d+/.test(report.version) || report.name !== pkg.name)
      throw new Error(`${pkg.name}: unexpected publish report ${report.name}@${report.version}`);
    console.log(
      `npm publish --dry-run ${report.name}@${report.version}: ${files.length} files, ${(report.size / 1024).toFixed(1)} KiB`,
    );
  }
  console.log('release check passed');
} catch (error) {
  console.error(`release check FAILED: ${error.stderr ?? ''}${error.message}`);
  process.exit(1);
}
