// The playground's browser test (run by the browser lane, tools/browser-lane/run.mjs, after the site is built):
// Node drives Debian's headless Chromium (playwright-core) through the built static site.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    environment: 'node',
    include: ['tools/playground/e2e/**/*.e2e.test.ts'],
    testTimeout: 600_000,
    hookTimeout: 300_000,
    fileParallelism: false,
  },
});
