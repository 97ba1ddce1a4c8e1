/**
 * The main job's report: a folder with `index.html` (and `report.json`) that a person opens. Charts are SVG
 * rendered by Vega-Lite/Vega (server-side, no browser needed), inlined in the page:
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

/** What the report shows. */
export interface ReportData {
  readonly title: string;
  readonly summary: readonly string[];
  readonly text: { readonly prompt: string; readonly generated: string };
  /** γ per layer and head on the first tokens. */
  readonly kernels: readonly {
    readonly layer: number;
    readonly head: number;
    readonly tokens: readonly string[];
    readonly gamma: readonly (readonly number[])[];
  }[];
  /** Per token, its 2-D projection at each saved time. */
  readonly trajectories: readonly {
    readonly token: string;
    readonly t: number;
    readonly pc1: number;
    readonly pc2: number;
  }[];
  /** Mean distance to S₁ before and after each projection sub-step. */
  readonly constraint: readonly {
    readonly step: string;
    readonly when: 'before' | 'after';
    readonly distance: number;
  }[];
  /** Error against Δt per scheme, with the fitted order. */
  readonly refinement: readonly {
    readonly scheme: string;
    readonly dt: number;
    readonly error: number;
    readonly order: number;
  }[];
  /** The refinement table printed by the CLI. */
  readonly table: readonly string[];
}

async function svgOf(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

const schema = 'https://vega.github.io/schema/vega-lite/v6.json';

/** The Vega-Lite specs of the report's charts. */
export function reportCharts(data: ReportData): { id: string; title: string; spec: TopLevelSpec }[] {
  const kernelValues = data.kernels.flatMap((k) =>
    k.gamma.flatMap((row, i) =>
      row.map((g, j) => ({
        panel: `layer ${k.layer} · head ${k.head}`,
        query: `${String(i).padStart(2, '0')} ${k.tokens[i]}`,
        key: `${String(j).padStart(2, '0')} ${k.tokens[j]}`,
        gamma: g,
      })),
    ),
  );
  return [
    {
      id: 'kernels',
      title: 'Attention kernels γ(x, x̃) per layer and head (rows: query x, columns: key x̃; each row integrates to 1)',
      spec: {
        $schema: schema,
        data: { values: kernelValues },
        facet: { field: 'panel', type: 'nominal', title: null },
        columns: Math.max(1, Math.min(4, new Set(data.kernels.map((k) => k.head)).size)),
        spec: {
          width: 150,
          height: 150,
          mark: 'rect',
          encoding: {
            x: { field: 'key', type: 'ordinal', axis: null },
            y: { field: 'query', type: 'ordinal', axis: null },
            color: { field: 'gamma', type: 'quantitative', scale: { scheme: 'viridis' }, title: 'γ' },
          },
        },
      } as TopLevelSpec,
    },
    {
      id: 'trajectories',
      title: 'Token trajectories u(x, ·, t) over depth t ∈ [0, T], projected on two principal components',
      spec: {
        $schema: schema,
        width: 520,
        height: 360,
        data: { values: data.trajectories.map((p) => ({ ...p })) },
        layer: [
          {
            mark: { type: 'line', opacity: 0.7 },
            encoding: {
              x: { field: 'pc1', type: 'quantitative' },
              y: { field: 'pc2', type: 'quantitative' },
              color: { field: 'token', type: 'nominal', legend: null },
              order: { field: 't', type: 'quantitative' },
            },
          },
          {
            mark: { type: 'point', filled: true, size: 18 },
            encoding: {
              x: { field: 'pc1', type: 'quantitative' },
              y: { field: 'pc2', type: 'quantitative' },
              color: { field: 'token', type: 'nominal', legend: null },
              opacity: { field: 't', type: 'quantitative', legend: null },
            },
          },
        ],
      } as TopLevelSpec,
    },
    {
      id: 'constraint',
      title: 'Distance to the constraint set S₁(0, 1) before and after each projection sub-step (mean over tokens)',
      spec: {
        $schema: schema,
        width: 520,
        height: 260,
        data: { values: data.constraint.map((c) => ({ ...c, distance: Math.max(c.distance, 1e-8) })) },
        mark: 'bar',
        encoding: {
          x: { field: 'step', type: 'nominal', sort: null, title: 'projection sub-step' },
          xOffset: { field: 'when', type: 'nominal' },
          y: { field: 'distance', type: 'quantitative', scale: { type: 'log' }, title: 'dist(u, S₁) in L²(Ω_y) (log)' },
          color: { field: 'when', type: 'nominal' },
        },
      } as TopLevelSpec,
    },
    {
      id: 'refinement',
      title: 'Error of the logits at t = T against Δt (reference: RK4 with a fine step), fitted orders in the legend',
      spec: {
        $schema: schema,
        width: 520,
        height: 320,
        data: { values: data.refinement.map((r) => ({ ...r, label: `${r.scheme} (order ${r.order.toFixed(2)})` })) },
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'dt', type: 'quantitative', scale: { type: 'log' }, title: 'Δt' },
          y: { field: 'error', type: 'quantitative', scale: { type: 'log' }, title: 'max |Δ logits|' },
          color: { field: 'label', type: 'nominal', title: 'scheme' },
        },
      } as TopLevelSpec,
    },
  ];
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
${figures.join('\n')}
</body></html>
`;
  const tmp = join(dir, '.index.html.partial');
  writeFileSync(tmp, html);
  renameSync(tmp, join(dir, 'index.html'));
  writeFileSync(join(dir, 'report.json'), `${JSON.stringify(data)}\n`);
  return join(dir, 'index.html');
}
