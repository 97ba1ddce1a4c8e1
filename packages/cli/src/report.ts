/**
 * The main job's report: a folder with `index.html` (and `report.json`) that a person opens. Charts are SVG
 * rendered by Vega-Lite/Vega (server-side, no browser needed), inlined in the page. The chart specifications
 * live in `charts.ts` (browser-safe, shared with the playground through `@tide/cli/study`):
 *
 * - the attention kernels γ(x, x̃) of every layer and head (heatmaps);
 * - token trajectories over depth, projected onto their two principal components;
 * - the distance to the constraint set S₁ before and after each projection sub-step;
 * - the error against Δt of each scheme, with fitted orders (log–log).
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { reportCharts, type ReportData } from './charts.js';

export { reportCharts } from './charts.js';
export type { ReportData } from './charts.js';

async function svgOf(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

function escape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Writes `dir/index.html` and `dir/report.json`; returns the path of index.html. */
export async function writeReport(dir: string, data: ReportData): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const charts = reportCharts(data);
  const figures: string[] = [];
  for (const c of charts) {
    figures.push(
      `<figure data-chart="${c.id}"><figcaption>${escape(c.title)}</figcaption>${await svgOf(c.spec)}</figure>`,
    );
  }
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(data.title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2rem auto;padding:0 1rem;color:#222}
figure{margin:2rem 0;padding:1rem;border:1px solid #ddd;border-radius:6px}figcaption{font-weight:600;margin-bottom:.5rem}
pre{background:#f6f6f6;padding:.75rem;overflow-x:auto}</style></head>
<body><h1>${escape(data.title)}</h1>
<pre>${escape(data.summary.join('\n'))}</pre>
<h2>Generated text (exact scheme, sampled)</h2><pre><b>${escape(data.text.prompt)}</b>${escape(data.text.generated)}</pre>
<h2>Re-solved over depth</h2><pre>${escape(data.table.join('\n'))}</pre>
${
  data.depth === undefined
    ? ''
    : `<h2>Anytime depth: the default model beside the one trained for its continuum</h2><pre>${escape(data.depth.table.join('\n'))}</pre>`
}
${
  data.images === undefined
    ? ''
    : `<h2>Images: a ViT on held-out pictures, at its resolution and at 1.5×</h2><pre>${escape(data.images.table.join('\n'))}</pre>`
}
${figures.join('\n')}
</body></html>
`;
  const tmp = join(dir, '.index.html.partial');
  writeFileSync(tmp, html);
  renameSync(tmp, join(dir, 'index.html'));
  writeFileSync(join(dir, 'report.json'), `${JSON.stringify(data)}\n`);
  return join(dir, 'index.html');
}
