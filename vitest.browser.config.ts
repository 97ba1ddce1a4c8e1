// The browser lane: the packages' tests in Debian's headless Chromium (vitest browser mode) on the
// webgl backend (SwiftShader here: a correctness check, not a speed measurement). See PLATFORM.md.
import { defaultClientConditions } from 'vite';
import { defineConfig } from 'vitest/config';
import { playwright } from '@vitest/browser-playwright';
// The lane's Chromium flags, written once (tools/browser-lane/chromium-args.json; PLATFORM.md).
import chromiumArgs from './tools/browser-lane/chromium-args.json' with { type: 'json' };

const executablePath = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const lanePackages =
  process.env['TIDE_BROWSER_PACKAGES'] ?? 'backend,domain,attention,normalization,feedforward,solvers,formats';

export default defineConfig({
  resolve: { conditions: ['@tide/source', ...defaultClientConditions] },
  optimizeDeps: {
    include: [
      '@tensorflow/tfjs-core/dist/register_all_gradients',
      '@tensorflow/tfjs-core',
      '@tensorflow/tfjs-backend-cpu',
      '@tensorflow/tfjs-backend-webgl',
      '@tensorflow/tfjs-backend-wasm',
    ],
  },
  test: {
    include: [
      ...lanePackages.split(',').map((p) => `packages/${p.trim()}/src/**/*.test.ts`),
      // The model and CLI packages' other tests read fixture files with node:fs: their browser tests run a model
      // built in the page (transformer), solve fixtures fetched from the dev server (vision) and check the generated report (cli).
      'packages/transformer/src/**/*.browser.test.ts',
      'packages/vision/src/**/*.browser.test.ts',
      'packages/cli/src/**/*.browser.test.ts',
    ],
    exclude: ['**/*.node.test.ts', '**/node_modules/**', '**/dist/**'],
    setupFiles: ['./vitest.setup.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    fileParallelism: false,
    browser: {
      enabled: true,
      headless: true,
      screenshotFailures: false,
      provider: playwright({
        launchOptions: {
          executablePath,
          args: chromiumArgs,
        },
      }),
      instances: [{ browser: 'chromium' }],
    },
  },
});
