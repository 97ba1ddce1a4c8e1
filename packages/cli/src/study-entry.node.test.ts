// `@tide/cli/study`: the package subpath resolves, exposes the charts and analyses, and imports nothing that needs
// Node or the Vega runtime (its whole module graph inside this package is read, every import checked).
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
// The package's own subpath, on purpose: the test checks that `@tide/cli/study` resolves through `exports`.
// eslint-disable-next-line @nx/enforce-module-boundaries
import * as study from '@tide/cli/study';

const src = dirname(fileURLToPath(import.meta.url));
const pkg = JSON.parse(readFileSync(join(src, '..', 'package.json'), 'utf8')) as {
  exports: Record<string, Record<string, string> | string>;
};

/** Every import of `file` and of the package modules it reaches: `[module, specifier, type-only]`. */
function importGraph(file: string, seen = new Set<string>()): [string, string, boolean][] {
  if (seen.has(file)) return [];
  seen.add(file);
  const text = readFileSync(file, 'utf8');
  const found: [string, string, boolean][] = [];
  for (const m of text.matchAll(/^(import|export)\s+(type\s+)?[^'";]*?from\s+'([^']+)';/gms)) {
    const [, , typeOnly, spec] = m;
    found.push([file, spec!, typeOnly !== undefined]);
    if (spec!.startsWith('.')) found.push(...importGraph(resolve(dirname(file), spec!.replace(/\.js$/, '.ts')), seen));
  }
  for (const m of text.matchAll(/^import\s+'([^']+)';/gm)) found.push([file, m[1]!, false]);
  return found;
}

it('the ./study export mirrors the main entry: source, types, import, default', () => {
  const main = pkg.exports['.'] as Record<string, string>;
  const entry = pkg.exports['./study'] as Record<string, string>;
  expect(Object.keys(entry)).toEqual(Object.keys(main));
  expect(entry).toEqual({
    '@tide/source': './src/study-entry.ts',
    types: './dist/study-entry.d.ts',
    import: './dist/study-entry.js',
    default: './dist/study-entry.js',
  });
});

it('exports the charts, the analyses, runStudy, the anytime-depth study and the image study', () => {
  expect(Object.keys(study).sort()).toEqual(
    [
      'CHART_TITLES',
      'CONTINUUM_ORDER_WINDOWS',
      'CONTINUUM_ORDER_REFERENCE',
      'HELD_OUT_SEED',
      'imageKernelChart',
      'pictureChart',
      'runImageStudy',
      'shapesAccuracy',
      'DEPTH_REFERENCE',
      'DEPTH_REFINEMENTS',
      'anytimeChart',
      'anytimeDepth',
      'depthTable',
      'depthTableLines',
      'heldOutLoss',
      'runDepthStudy',
      'constraintChart',
      'constraintDistances',
      'kernelChart',
      'kernelsAt',
      'layerKernels',
      'measuredOrders',
      'refinementChart',
      'reportCharts',
      'runStudy',
      'stateChart',
      'stateRows',
      'tokenLabels',
      'trajectories',
      'trajectoryChart',
    ].sort(),
  );
});

it('imports nothing that needs Node or the Vega runtime', () => {
  const graph = importGraph(join(src, 'study-entry.ts'));
  const modules = new Set(graph.filter(([, s]) => s.startsWith('.')).map(([, s]) => s));
  expect([...modules].sort()).toEqual([
    './analysis.js',
    './charts.js',
    './depth-study.js',
    './divergence.js',
    './image-study.js',
    './study.js',
  ]);
  const browserSafe = [
    '@tide/attention',
    '@tide/backend',
    '@tide/domain',
    '@tide/formats',
    '@tide/normalization',
    '@tide/transformer',
    '@tide/vision',
  ];
  for (const [file, spec, typeOnly] of graph) {
    if (spec.startsWith('.')) continue;
    const where = `${file.slice(src.length + 1)} imports ${spec}`;
    if (spec === 'vega-lite') expect(typeOnly, `${where}: types only`).toBe(true);
    else expect(browserSafe, where).toContain(spec);
  }
});
