// The browser-safe entry imports nothing from Node (its modules are loaded by the GPU browser benchmark page).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as core from './core.js';
import * as main from './index.js';

const here = dirname(fileURLToPath(import.meta.url));

/** The relative modules `file` imports, transitively. */
function closure(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  const source = readFileSync(join(here, file), 'utf8');
  for (const m of source.matchAll(/^(?:import|export)[^'"]*from '(\.\/[^']+)\.js';/gm)) closure(`${m[1]}.ts`, seen);
  return seen;
}

describe('@tide/transformer/core', () => {
  it('reaches no module that imports node:*', () => {
    const offenders = [...closure('./core.ts')].filter((f) => /from 'node:/.test(readFileSync(join(here, f), 'utf8')));
    expect(offenders).toEqual([]);
  });

  it('is re-exported whole by the main entry', () => {
    for (const name of Object.keys(core)) expect((main as Record<string, unknown>)[name], name).toBe((core as Record<string, unknown>)[name]);
  });
});
