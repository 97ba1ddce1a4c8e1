import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { reportCharts, writeReport, type ReportData } from './report.js';

const work = mkdtempSync(join(tmpdir(), 'tide-report-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const data: ReportData = {
  title: 'test <report>',
  summary: ['a', 'b'],
  text: { prompt: 'Call ', generated: 'me' },
  kernels: [0, 1].map((head) => ({
    layer: 0,
    head,
    tokens: ['a', 'b'],
    gamma: [
      [1, 0],
      [0.25, 0.75],
    ],
  })),
  trajectories: [0, 0.5, 1].flatMap((t) =>
    ['0 a', '1 b'].map((token, i) => ({ token, t, pc1: t + i, pc2: t * t - i })),
  ),
  constraint: [
    { step: 'layer 0 · P₁', when: 'before', distance: 3 },
    { step: 'layer 0 · P₁', when: 'after', distance: 1e-6 },
  ],
  refinement: [0.5, 0.25, 0.125].map((dt) => ({ scheme: 'rk4', dt, error: dt ** 4, order: 4 })),
  table: ['row'],
};

describe('the report', () => {
  it('has one Vega-Lite chart per view, fed with the data', () => {
    const charts = reportCharts(data);
    expect(charts.map((c) => c.id)).toEqual(['kernels', 'trajectories', 'constraint', 'refinement']);
    expect((charts[0]!.spec as { data: { values: unknown[] } }).data.values).toHaveLength(8);
  });

  it('writes index.html with an SVG per chart (escaped text) and report.json', async () => {
    const index = await writeReport(join(work, 'r'), data);
    const html = readFileSync(index, 'utf8');
    expect(html.match(/<figure data-chart="[a-z]+"><figcaption>[^<]+<\/figcaption><svg /g)).toHaveLength(4);
    expect(html).toContain('test &lt;report&gt;');
    expect(html).not.toMatch(/NaN/);
    expect(JSON.parse(readFileSync(join(work, 'r', 'report.json'), 'utf8')).refinement).toHaveLength(3);
  });
});
