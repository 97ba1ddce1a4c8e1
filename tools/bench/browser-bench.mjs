#!/usr/bin/env node
// `npm run bench:browser`: the GPU benchmark. Serves tools/bench/browser (vite, workspace sources), opens it in
// headless Chromium with hardware WebGL, and prints TIDE on webgl (fused attention) against plain tfjs ops on the
// same backend, as ratios. Prepared for a machine with a real GPU: it refuses a software renderer (SwiftShader,
// llvmpipe) unless --smoke, which runs tiny shapes to check the script itself on any machine.
//
// usage: node tools/bench/browser-bench.mjs [--smoke] [--workloads gpt2-small,long-1024,…] [--allow-software]
//          [--repeats 5] [--chromium /usr/bin/chromium] [--out FILE.json]
// --allow-software runs the full shapes on a software renderer, labelled as such (not a GPU figure).
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer, defaultClientConditions } from 'vite';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const smoke = args.includes('--smoke');
const repeats = Number(flag('repeats', smoke ? '2' : '5'));
const executablePath = flag('chromium', process.env.CHROMIUM_PATH ?? '/usr/bin/chromium');

const full = [
  { name: 'gpt2-small', kind: 'encoder', d: 768, heads: 12, layers: 12, n: 256 },
  { name: 'long-1024', kind: 'encoder', d: 256, heads: 8, layers: 4, n: 1024 },
  { name: 'long-4096', kind: 'encoder', d: 256, heads: 8, layers: 4, n: 4096 },
  ...[2048, 4096, 8192, 16384].map((n) => ({
    name: `attention-${n}`,
    kind: 'attention',
    d: 64,
    heads: 1,
    layers: 1,
    n,
    causal: false,
  })),
];
const tiny = [
  { name: 'gpt2-small (smoke: 2 layers, 32 tokens)', kind: 'encoder', d: 768, heads: 12, layers: 2, n: 32 },
  { name: 'attention-256 (smoke)', kind: 'attention', d: 64, heads: 1, layers: 1, n: 256, causal: false },
];
const allowSoftware = smoke || args.includes('--allow-software');
const picked = flag('workloads');
const workloads = smoke ? tiny : picked ? full.filter((w) => picked.split(',').includes(w.name)) : full;
if (workloads.length === 0) {
  console.error(
    `browser bench: --workloads expected names from ${full.map((w) => w.name).join(', ')}, received '${picked}'.`,
  );
  process.exit(2);
}

// Flag sets that give Chromium a hardware WebGL context headless on Linux (NVIDIA: ANGLE on Vulkan or EGL).
const base = [
  '--no-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--ignore-gpu-blocklist',
  '--enable-gpu',
];
const attempts = [
  ['--use-angle=vulkan', '--enable-features=Vulkan,VulkanFromANGLE', '--disable-vulkan-surface'],
  ['--use-angle=gl-egl'],
  ['--use-gl=egl'],
  [],
];
const software = /swiftshader|llvmpipe|software|softpipe/i;

const server = await createServer({
  configFile: false,
  root: join(here, 'browser'),
  logLevel: 'warn',
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
  server: { port: 0, host: '127.0.0.1', fs: { allow: [root] } },
});
await server.listen();
const url = server.resolvedUrls.local[0];

let browser;
let page;
let renderer;
try {
  for (const extra of attempts) {
    const b = await chromium.launch({ executablePath, headless: true, args: [...base, ...extra] });
    const p = await b.newPage();
    p.on('pageerror', (e) => console.error(`page error: ${e.message}`));
    await p.goto(url);
    await p.waitForFunction(() => window.benchReady === true, undefined, { timeout: 180_000 });
    const info = await p.evaluate(() => window.probe());
    console.log(
      `chromium ${extra.join(' ') || '(default GPU flags)'}: WebGL2 ${info.webgl2 ? 'yes' : 'no'}, renderer ${info.renderer}, tfjs webgl: ${info.tfjs}`,
    );
    if (info.webgl2 && info.tfjs === 'ok' && (allowSoftware || !software.test(info.renderer))) {
      [browser, page, renderer] = [b, p, info];
      break;
    }
    await b.close();
  }
  if (!page) {
    console.error(
      'browser bench: expected a hardware WebGL2 renderer, found none that is hardware and runs the tfjs webgl backend (see the lines above). Fix: run on a machine with a GPU and its driver (NVIDIA: Vulkan ICD or EGL), or pass --smoke to check the script.',
    );
    process.exitCode = 1;
  } else {
    const out = await page.evaluate((config) => window.runBench(config), { repeats, workloads });
    const stamp = new Date().toISOString();
    console.log(
      `\nTIDE browser bench — ${stamp} — ${renderer.vendor ?? ''} ${renderer.renderer}; backend ${out.engine} (float32 ${out.float32}); median of ${repeats} after a warm-up${smoke ? ' — SMOKE (not a measurement)' : software.test(renderer.renderer) ? ' — SOFTWARE RENDERER (not a GPU figure)' : ''}`,
    );
    console.log('peak MiB: tfjs texture memory at the peak of the warm-up run, net of the weights');
    for (const { workload: wl, rows } of out.results) {
      const what =
        wl.kind === 'attention'
          ? `attention alone: ${wl.heads} head, d = ${wl.d}, ${wl.n} tokens, non-causal`
          : `d = ${wl.d}, ${wl.heads} heads, ${wl.layers} layers, ${wl.n} tokens, pre-LN, causal, exact scheme`;
      console.log(`\n${wl.name}: ${what}`);
      console.log(
        `${'implementation'.padEnd(36)}${'median'.padStart(12)}${'peak MiB'.padStart(10)}${'TIDE / this'.padStart(13)}`,
      );
      const tide = rows[0]?.median_s;
      for (const r of rows) {
        const label =
          wl.kind === 'attention'
            ? `${r.impl} attention (webgl)`
            : r.impl === 'plain tfjs'
              ? 'plain tfjs ops (webgl)'
              : `TIDE (webgl, ${r.impl} attention)`;
        if (r.error) console.log(`${label.padEnd(36)}  failed: ${r.error}`);
        else
          console.log(
            `${label.padEnd(36)}${`${r.median_s.toFixed(4)} s`.padStart(12)}${r.peak_mib.toFixed(0).padStart(10)}${(tide / r.median_s).toFixed(2).padStart(13)}`,
          );
      }
    }
    const file = flag('out');
    if (file) writeFileSync(file, `${JSON.stringify({ stamp, renderer, ...out }, null, 2)}\n`);
  }
} finally {
  await browser?.close();
  await server.close();
}
