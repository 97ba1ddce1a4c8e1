#!/usr/bin/env node
// The package check: how users meet TIDE, one package at a time.
// 1. `npm pack` every publishable package (packages/*, built first by `npm run check:packages`);
// 2. publint and @arethetypeswrong/cli on each tarball;
// 3. install the tarballs into a fresh project outside the workspace, compile (tsc, nodenext, strict, without
//    skipLibCheck) and run two programs: one uses @tide/domain alone, one composes a pre-LN Transformer layer
//    from the operator packages alone, and one composes an image model (convolutional lift, keys on a coarser grid);
// 4. install @tide/cli alone and run its bin on the models it ships (the text default and the shapes ViT).
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const run = (cmd, args, cwd) =>
  execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });

const work = mkdtempSync(join(tmpdir(), 'tide-package-check-'));
const tarballs = join(work, 'tarballs');
mkdirSync(tarballs);
let failed = false;
/**
 * Are the types wrong (attw), for the resolutions an ESM-only package supports: node16 from ESM and bundlers. Its
 * `esm-only` profile ignores node10 and node16-from-CJS for entry points, but still fails on a declaration file's
 * own imports that only node10 cannot follow (`@tide/backend`'s subpath imports `#tfjs-core`, which node10 does
 * not know): those problems are filtered out here by their resolution, and every other problem fails the check.
 */
function attw(file, name) {
  const IGNORED = new Set(['node10', 'node16-cjs']);
  let report;
  try {
    report = JSON.parse(run(bin('attw'), [file, '--profile', 'esm-only', '--format', 'json'], root));
  } catch (e) {
    // attw exits 1 when it finds any problem; its JSON report is still on stdout.
    report = JSON.parse(e.stdout ?? '{}');
  }
  const problems = (report.analysis?.problems ?? []).filter(
    (p) => !IGNORED.has(p.resolutionKind ?? p.resolutionOption),
  );
  if (report.analysis === undefined || problems.length > 0) {
    run(bin('attw'), [file, '--profile', 'esm-only', '--format', 'ascii'], root); // prints the table and throws
    throw new Error(`${name}: attw found ${problems.length} problem(s): ${JSON.stringify(problems).slice(0, 400)}`);
  }
}

try {
  const packages = readdirSync(join(root, 'packages'))
    .map((dir) => join(root, 'packages', dir))
    .filter((dir) => !JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).private);
  const packed = {};
  for (const dir of packages) {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    const out = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', tarballs], dir));
    const file = join(tarballs, out[0].filename);
    packed[pkg.name] = file;
    const files = out[0].files.map((f) => f.path);
    if (!files.includes('dist/index.js') || !files.includes('dist/index.d.ts')) {
      throw new Error(`${pkg.name}: the tarball lacks dist/index.js or dist/index.d.ts (run the build first)`);
    }
    if (files.some((f) => f.includes('.test.'))) throw new Error(`${pkg.name}: the tarball ships test files`);
    console.log(`packed ${pkg.name}@${pkg.version}: ${files.length} files, ${(out[0].size / 1024).toFixed(1)} KiB`);
    run(bin('publint'), ['run', dir, '--strict', '--pack', 'npm'], root);
    console.log(`  publint: ok`);
    attw(file, pkg.name);
    console.log(`  attw (esm-only profile): ok`);
  }

  // A fresh project outside the workspace, as a user has it.
  const app = join(work, 'app');
  mkdirSync(app);
  const deps = Object.fromEntries(Object.entries(packed).map(([name, file]) => [name, `file:${file}`]));
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify(
      {
        name: 'tide-consumer',
        private: true,
        type: 'module',
        dependencies: Object.fromEntries(
          ['@tide/domain', '@tide/attention', '@tide/feedforward', '@tide/normalization', '@tide/solvers'].map((n) => [
            n,
            deps[n],
          ]),
        ),
        overrides: deps,
      },
      null,
      2,
    ),
  );
  writeFileSync(
    join(app, 'tsconfig.json'),
    // Strict, and without skipLibCheck: the published declarations (ours and the tfjs typings they reach) must compile.
    JSON.stringify(
      {
        compilerOptions: {
          target: 'es2022',
          module: 'nodenext',
          moduleResolution: 'nodenext',
          strict: true,
          skipLibCheck: false,
          lib: ['es2022', 'dom'],
          types: [],
          outDir: 'out',
        },
        files: ['main.ts', 'compose.ts', 'compose-image.ts'],
      },
      null,
      2,
    ),
  );
  cpSync(join(here, 'consumer.ts'), join(app, 'main.ts'));
  cpSync(join(here, 'compose.ts'), join(app, 'compose.ts'));
  cpSync(join(here, 'compose-image.ts'), join(app, 'compose-image.ts'));
  run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], app);
  const installed = readdirSync(join(app, 'node_modules', '@tide'));
  console.log(`installed into ${app}: @tide/${installed.join(', @tide/')}`);
  const tfjs = readdirSync(join(app, 'node_modules', '@tensorflow'));
  if (tfjs.includes('tfjs') || tfjs.includes('tfjs-layers'))
    throw new Error(`the consumer got the tfjs union package: @tensorflow/${tfjs.join(', @tensorflow/')}`);
  console.log(`  tfjs installed: @tensorflow/${tfjs.join(', @tensorflow/')} (no union package)`);
  run(bin('tsc'), ['-p', 'tsconfig.json'], app);
  console.log('  tsc (nodenext, strict, no skipLibCheck): ok');
  process.stdout.write(`  node: ${run('node', ['out/main.js'], app)}`);
  process.stdout.write(`  node: ${run('node', ['out/compose.js'], app)}`);
  process.stdout.write(`  node: ${run('node', ['out/compose-image.js'], app)}`);
  // A second user installs the CLI package alone and runs its bin on the model it ships.
  const cliApp = join(work, 'cli-app');
  mkdirSync(cliApp);
  writeFileSync(
    join(cliApp, 'package.json'),
    JSON.stringify(
      {
        name: 'tide-cli-consumer',
        private: true,
        type: 'module',
        dependencies: { '@tide/cli': deps['@tide/cli'] },
        overrides: deps,
      },
      null,
      2,
    ),
  );
  run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], cliApp);
  const shipped = join(cliApp, 'node_modules', '@tide', 'cli', 'models', 'default');
  const inspect = run(join(cliApp, 'node_modules', '.bin', 'tide'), ['inspect', '--model', shipped], cliApp);
  if (!/HF GPT-2/.test(inspect)) throw new Error(`tide inspect printed:\n${inspect}`);
  const main = run(join(cliApp, 'node_modules', '.bin', 'tide'), ['run', '--tokens', '4'], cliApp);
  if (!/RK4, 4 steps\/layer/.test(main)) throw new Error(`tide run printed:\n${main}`);
  if (!/accuracy \d+(\.\d)?% of/.test(main)) throw new Error(`tide run printed no image part:\n${main}`);
  const vitDir = join(cliApp, 'node_modules', '@tide', 'cli', 'models', 'shapes-vit');
  const vit = run(join(cliApp, 'node_modules', '.bin', 'tide'), ['inspect', '--model', vitDir], cliApp);
  if (!/torchvision ViT/.test(vit)) throw new Error(`tide inspect (shapes ViT) printed:\n${vit}`);
  console.log(`  tide (installed bin): inspect and run ok — ${inspect.split('\n')[0]}`);
  console.log('package check passed');
} catch (error) {
  failed = true;
  console.error(`package check FAILED: ${error.stdout ?? ''}${error.message}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
