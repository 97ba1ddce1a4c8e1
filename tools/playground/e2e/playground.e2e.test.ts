// The playground in Debian's headless Chromium (WebGL2 on SwiftShader here: a correctness check, not a speed
// figure). It serves the BUILT site (tools/playground/dist, `npm run build`) from a plain static server, as any
// static host would, and drives it like a user: generate text on webgl, change the scheme and the token grid
// (the charts must change), move the depth slider, measure orders, load fixture checkpoints through the file
// input, and a bad file (one-line message, no blank page). Any console error fails the test. It writes a
// screenshot of the page to reports/playground/playground.png (the README shows a copy, docs/playground.png).
import { createReadStream, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const site = join(root, 'tools/playground/dist');
const fixtures = join(root, 'tools/fixtures/data');
const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.safetensors': 'application/octet-stream',
  '.svg': 'image/svg+xml',
};

let server: Server;
let browser: Browser;
let page: Page;
let origin: string;
const consoleErrors: string[] = [];

beforeAll(async () => {
  if (!existsSync(join(site, 'index.html')))
    throw new Error(`expected the built playground at ${site}; run \`npm run build\` (the browser lane does) first`);
  server = createServer((request, response) => {
    const path = normalize(decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname)).replace(
      /^(\.\.[/\\])+/,
      '',
    );
    const file = join(site, path.endsWith('/') ? `${path}index.html` : path);
    if (!file.startsWith(site) || !existsSync(file) || !statSync(file).isFile()) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, {
      'content-type': MIME[extname(file)] ?? 'application/octet-stream',
      'content-length': statSync(file).size,
    });
    createReadStream(file).pipe(response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  origin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  browser = await chromium.launch({
    executablePath: process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium',
    args: JSON.parse(readFileSync(join(root, 'tools/browser-lane/chromium-args.json'), 'utf8')) as string[], // the lane's flags
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(`${message.text()} (${message.location().url})`);
  });
  page.on('pageerror', (error) => consoleErrors.push(`page error: ${error.message}`));
});

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
});

/** Waits until the page has finished its current job (ready), failing early with its one-line error. */
async function settled(): Promise<void> {
  await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset['state'] ?? ''), null, {
    timeout: 240_000,
  });
  const state = await page.evaluate(() => document.body.dataset['state']);
  if (state === 'error') throw new Error(`the page stopped: ${await page.textContent('#error')}`);
}

/**
 * Changes a select and waits for the re-solve. The page marks itself busy inside the change event's own task
 * (the job starts in a microtask), so `settled` cannot see a stale 'ready'.
 */
async function choose(id: string, value: string): Promise<void> {
  await page.selectOption(`#${id}`, value);
  await settled();
}

/** What a chart shows, for comparisons: its SVG's marks' geometry and colours. */
const fingerprint = (name: string) =>
  page.$eval(`figure[data-chart="${name}"] svg`, (svg) =>
    [...svg.querySelectorAll('g[class*="mark-"] path')]
      .map((p) => `${p.getAttribute('d')}|${p.getAttribute('fill')}`)
      .join(';'),
  );

/** Visible area: bar heights, distinct heatmap cells, non-empty lines (not mark counts). */
async function visibleArea(name: string): Promise<{ boxes: number[]; fills: number; lines: number }> {
  return page.$eval(`figure[data-chart="${name}"] svg`, (svg) => {
    const boxes = [...svg.querySelectorAll('g.mark-rect path')].map((p) => {
      const b = (p as SVGGraphicsElement).getBBox();
      return b.width * b.height;
    });
    const fills = new Set([...svg.querySelectorAll('g.mark-rect path')].map((p) => p.getAttribute('fill'))).size;
    const lines = [...svg.querySelectorAll('g.mark-line path')].filter(
      (p) => (p.getAttribute('d') ?? '').length > 10,
    ).length;
    return { boxes, fills, lines };
  });
}

it('generates on webgl, re-solves on every control, loads checkpoints through the file input', async () => {
  await page.goto(`${origin}/index.html`);
  await settled();
  expect(await page.textContent('#engine')).toMatch(/^webgl/);
  expect(await page.textContent('#model-info')).toMatch(/embedded default model: GPT-2 layout/);

  // Generation on webgl, with the embedded model's character tokenizer.
  await page.fill('#prompt', 'ROMEO: ');
  await page.fill('#new-tokens', '8');
  await page.click('#generate');
  await settled();
  const text = (await page.textContent('#generated')) ?? '';
  expect(text.startsWith('ROMEO: ')).toBe(true);
  expect(text.length).toBe('ROMEO: '.length + 8);
  expect(await page.textContent('#forward-ms')).toMatch(/\d+(\.\d+)? ms/);
  expect(await page.textContent('#generation-speed')).toMatch(/^8 tokens in \d+\.\d\d s/);

  // Every chart has visible area.
  const kernels = await visibleArea('kernels');
  expect(kernels.fills, 'kernel cells of differing colour').toBeGreaterThan(10);
  expect(Math.min(...kernels.boxes), 'kernel cells have area').toBeGreaterThan(0);
  const constraint = await visibleArea('constraint');
  expect(constraint.boxes.length, 'constraint bars').toBeGreaterThanOrEqual(8);
  expect(Math.min(...constraint.boxes), 'every constraint bar has area').toBeGreaterThan(1);
  expect((await visibleArea('trajectories')).lines, 'trajectory lines').toBeGreaterThan(3);
  expect((await visibleArea('state')).fills, 'state cells of differing colour').toBeGreaterThan(10);

  // The scheme changes the solve: trajectories (now 4 steps per layer) and the state at depth change.
  const before = { trajectories: await fingerprint('trajectories'), kernels: await fingerprint('kernels') };
  await choose('scheme', 'rk4');
  await choose('steps', '4');
  expect(await page.textContent('#forward-ms')).toMatch(/RK4|rk4/i);
  expect(await fingerprint('trajectories')).not.toBe(before.trajectories);
  // The schedule θ(t): linear between layer centres moves the trajectories again.
  const piecewise = await fingerprint('trajectories');
  await choose('schedule', 'linear');
  expect(await fingerprint('trajectories')).not.toBe(piecewise);
  await choose('schedule', 'piecewise');

  // The token grid changes the quadrature: kernels and trajectories change.
  const onTokens = { trajectories: await fingerprint('trajectories'), kernels: await fingerprint('kernels') };
  await choose('grid', 'gauss-legendre');
  expect(await fingerprint('kernels')).not.toBe(onTokens.kernels);
  expect(await fingerprint('trajectories')).not.toBe(onTokens.trajectories);
  await choose('grid', 'resample');
  // N points on the resampled grid: the state has N rows (× 48 features).
  await page.fill('#grid-n', '12');
  await page.dispatchEvent('#grid-n', 'change');
  await settled();
  const stateCells = await page.$$eval('figure[data-chart="state"] svg g.mark-rect path', (p) => p.length);
  expect(stateCells).toBeGreaterThanOrEqual(12 * 48); // 12 rows of cells (and the legend's own rect)
  expect(stateCells).toBeLessThan(13 * 48);
  expect(await page.$$eval('figure[data-chart="state"] svg g.mark-rect path', (p) => p.length)).toBeGreaterThan(0);

  // The depth slider shows the state at another time.
  const stateAt0 = await fingerprint('state');
  await page.$eval('#depth', (el) => {
    (el as HTMLInputElement).value = '2.5';
    el.dispatchEvent(new Event('input'));
  });
  await page.waitForFunction(() => document.querySelector('#depth-value')?.textContent === '2.5', null, {
    timeout: 120_000,
  });
  await settled();
  expect(await fingerprint('state')).not.toBe(stateAt0);

  // Orders: the error-against-Δt chart, with fitted orders in its legend.
  await choose('grid', 'tokens');
  await page.click('#measure');
  await settled();
  expect((await visibleArea('refinement')).lines).toBe(4);
  expect(await page.textContent('figure[data-chart="refinement"] svg')).toMatch(/rk4 \(order \d\.\d\d\)/);

  // wasm and cpu are selectable: the same solve on each, then back to webgl.
  for (const backend of ['wasm', 'cpu', 'webgl']) {
    const timing = await page.textContent('#forward-ms');
    await choose('backend', backend);
    expect(await page.textContent('#engine')).toBe(backend);
    // On wasm, TIDE's SIMD kernels (instantiated asynchronously: a page's main thread refuses to compile them
    // synchronously) run; elsewhere they do not.
    expect(await page.getAttribute('#engine', 'data-simd')).toBe(String(backend === 'wasm'));
    expect(await page.textContent('#status')).toMatch(new RegExp(`on ${backend}$`));
    expect(await page.textContent('#forward-ms')).not.toBe(timing);
  }

  mkdirSync(join(root, 'reports/playground'), { recursive: true });
  await page.screenshot({ path: join(root, 'reports/playground/playground.png'), fullPage: true });

  // The embedded continuous model (smooth controls): it opens on its recommended scheme (RK4) and solves.
  await choose('model', 'continuous');
  expect(await page.textContent('#model-info')).toMatch(/continuous model/);
  expect(await page.inputValue('#scheme')).toBe('rk4');
  expect((await visibleArea('kernels')).fills).toBeGreaterThan(3);
  await choose('steps', '4');
  expect((await visibleArea('trajectories')).lines).toBeGreaterThan(0);

  // Fixture checkpoints through the file input: GPT-2 (no tokenizer: token-id prompts) and a PyTorch encoder.
  await page.setInputFiles(
    '#files',
    ['config.json', 'model.safetensors'].map((f) => join(fixtures, 'gpt2-tiny', f)),
  );
  await settled();
  expect(await page.textContent('#model-info')).toMatch(/GPT-2 layout.*2 layers, d 16, 2 heads.*no tokenizer/);
  await page.fill('#new-tokens', '4');
  await page.click('#generate');
  await settled();
  expect((await page.textContent('#generated'))!.trim().split(/\s+/).length).toBe(8 + 4);
  expect((await visibleArea('kernels')).fills).toBeGreaterThan(3);

  await page.setInputFiles(
    '#files',
    ['config.json', 'model.safetensors'].map((f) => join(fixtures, 'encoder-preln-gelu', f)),
  );
  await settled();
  expect(await page.textContent('#model-info')).toMatch(/PyTorch encoder layout/);
  expect(await page.isVisible('#encoder-controls')).toBe(true);
  expect((await visibleArea('constraint')).boxes.every((a) => a > 1)).toBe(true);

  // A bad file: the one-line message, the page still there, no console error.
  await page.setInputFiles('#files', [
    { name: 'config.json', mimeType: 'application/json', buffer: Buffer.from('{"model_type": "gpt2"') },
    { name: 'model.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from('not a safetensors file') },
  ]);
  await page.waitForFunction(() => document.body.dataset['state'] === 'error', null, { timeout: 60_000 });
  const message = (await page.textContent('#error')) ?? '';
  expect(message).toMatch(/config\.json.*expected a JSON object/);
  expect(await page.isVisible('figure[data-chart="kernels"] svg')).toBe(true);
  // The page still works after the bad file: the last good model re-solves on a control change.
  await choose('scheme', 'lie');
  expect(await page.textContent('#status')).toMatch(/^ready/);

  expect(consoleErrors).toEqual([]);
});
