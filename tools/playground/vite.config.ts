// The playground's Vite config: `npm run playground` serves it, `npm run build` writes a static site to dist/
// (relative asset paths: it works from any static host, no server code). Its unit tests (src/*.test.ts) run in
// Node with the workspace's shared settings; the browser test (e2e/) has its own config.
import { fileURLToPath } from 'node:url';
import { defaultClientConditions, defineConfig } from 'vite';
import shared from '../../vitest.shared.js';

const workspace = fileURLToPath(new URL('../..', import.meta.url));

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  // Sibling packages resolve to their sources (no package build needed); tfjs's browser builds.
  resolve: {
    conditions: process.env['VITEST'] ? shared.resolve!.conditions : ['@tide/source', ...defaultClientConditions],
  },
  ...(process.env['VITEST'] && { ssr: shared.ssr }),
  optimizeDeps: {
    include: [
      '@tensorflow/tfjs-core',
      '@tensorflow/tfjs-core/dist/register_all_gradients',
      '@tensorflow/tfjs-backend-cpu',
      '@tensorflow/tfjs-backend-webgl',
      '@tensorflow/tfjs-backend-wasm',
    ],
  },
  server: { fs: { allow: [workspace] } },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 4096, assetsInlineLimit: 0 },
  test: { ...shared.test, include: ['src/**/*.test.ts'] },
});
