// Shared vitest settings for every package's Node lane.
// `@tide/source` makes sibling packages resolve to their `src/index.ts`, so tests need no build.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export const sourceConditions = ['@tide/source', 'module', 'node', 'import', 'default'];

export default defineConfig({
  resolve: { conditions: sourceConditions },
  ssr: { resolve: { conditions: sourceConditions, externalConditions: ['@tide/source'] } },
  test: {
    environment: 'node',
    include: ['src/**/*.test.ts'],
    exclude: ['**/*.browser.test.ts', '**/node_modules/**', '**/dist/**'],
    pool: 'forks',
    maxWorkers: 2,
    // A hang guard, not a speed check: generous so that tests hold on a busy machine.
    testTimeout: 300_000,
    hookTimeout: 300_000,
    reporters: ['default'],
    setupFiles: [fileURLToPath(new URL('./vitest.setup.ts', import.meta.url))],
  },
});
