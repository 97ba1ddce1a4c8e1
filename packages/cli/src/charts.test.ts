// The chart specs of charts.ts: each compiles, and what they draw is visible (rendered to SVG with Vega, as the
// report does in Node).
import { describe, expect, it } from 'vitest';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import {
  CHART_TITLES,
  constraintChart,
  imageKernelChart,
  kernelChart,
  pictureChart,
  refinementChart,
  reportCharts,
  stateChart,
  trajectoryChart,
  type ConstraintDistance,
  type KernelPanel,
  type ReportData,
  type TrajectoryPoint,
} from './charts.js';

async function svgOf(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

/** The `d` attributes of the paths in the mark groups of type `mark` (e.g. `mark-rect`), and of name `name` if given. */
function markPaths(svg: string, mark: string, name?: string): string[] {
  // Mark groups hold only paths (no nested groups), so the first `</g>` closes them.
  const groups = [...svg.matchAll(new RegExp(`<g class="${mark} role-mark([^"]*)"[^>]*>(.*?)</g>`, 'gs'))].filter(
    ([, rest]) => name === undefined || rest!.trim().split(' ').includes(name),
  );
  return groups.flatMap(([, , body]) => [...body!.matchAll(/<path [^>]*?\bd="([^"]*)"/g)].map((m) => m[1]!));
}

/** Height in px of a Vega rect path `M x,y h w v h h −w Z`. */
function rectHeight(d: string): number {
  const m = /^M(-?[\d.e+-]+),(-?[\d.e+-]+)h(-?[\d.e+-]+)v(-?[\d.e+-]+)h(-?[\d.e+-]+)Z$/.exec(d);
  if (m === null) throw new Error(`not a Vega rect path: ${d}`);
  return Math.abs(Number(m[4]));
}

const kernels: KernelPanel[] = [0, 1].map((head) => ({
  layer: 0,
  head,
  tokens: ['a', 'b', 'c'],
  gamma: [
    [1, 0, 0],
    [0.25, 0.75, 0],
    [0.2, 0.3, 0.5 + head / 10],
  ],
}));
const points: TrajectoryPoint[] = [0, 0.25, 0.5, 0.75, 1].flatMap((t) =>
  ['0 a', '1 b', '2 c'].map((token, i) => ({ token, t, pc1: t + i, pc2: t * t - i })),
);
// Before and after differ by many orders of magnitude; an exact projection reaches 0.
const constraint: ConstraintDistance[] = [
  { step: 'layer 0 · P₁', when: 'before', distance: 6.02 },
  { step: 'layer 0 · P₁', when: 'after', distance: 2e-3 },
  { step: 'layer 0 · P₂', when: 'before', distance: 5.86 },
  { step: 'layer 0 · P₂', when: 'after', distance: 5.4e-5 },
  { step: 'layer 1 · P₁', when: 'before', distance: 1 },
  { step: 'layer 1 · P₁', when: 'after', distance: 0 },
];
const data: ReportData = {
  title: 't',
  summary: [],
  text: { prompt: '', generated: '' },
  kernels,
  trajectories: points,
  constraint,
  refinement: [0.5, 0.25, 0.125].map((dt) => ({ scheme: 'rk4', dt, error: dt ** 4, order: 4 })),
  table: [],
};
const state = {
  tokens: ['a', 'b'],
  values: [
    [-1, 0, 2],
    [0.5, -0.25, 1],
  ],
  t: 1.5,
};

describe('chart specs', () => {
  it('each compiles with Vega-Lite and renders', async () => {
    const specs = [
      kernelChart(kernels),
      trajectoryChart(points),
      trajectoryChart(points, { at: 0.6 }),
      constraintChart(constraint),
      refinementChart(data.refinement),
      stateChart(state),
    ];
    for (const spec of specs) {
      expect(() => compile(spec)).not.toThrow();
      expect(await svgOf(spec)).toMatch(/^<svg /);
    }
  });

  it('reportCharts: the four report charts in order, captioned from CHART_TITLES', () => {
    const charts = reportCharts(data);
    expect(charts.map((c) => c.id)).toEqual(['kernels', 'trajectories', 'constraint', 'refinement']);
    expect(charts.map((c) => c.title)).toEqual([
      CHART_TITLES.kernels,
      CHART_TITLES.trajectories,
      CHART_TITLES.constraint,
      CHART_TITLES.refinement,
    ]);
    expect(Object.keys(CHART_TITLES).sort()).toEqual([
      'anytime',
      'constraint',
      'continuum',
      'imageKernels',
      'kernels',
      'pictures',
      'refinement',
      'state',
      'trajectories',
    ]);
  });

  it('constraint chart: every bar has visible height on the log axis, the exact projection (0) included', async () => {
    const spec = constraintChart(constraint);
    const bars = markPaths(await svgOf(spec), 'mark-rect');
    expect(bars).toHaveLength(constraint.length);
    for (const d of bars) expect(rectHeight(d), d).toBeGreaterThan(1);
    // The axis starts a decade below the smallest (clamped) distance, where the bars start.
    const y = (spec as { encoding: { y: { scale: { domain: number[] } }; y2: { datum: number } } }).encoding;
    expect(y.y2.datum).toBeCloseTo(1e-9, 20);
    expect(y.y.scale.domain[0]).toBe(y.y2.datum);
    // Heights order as the distances do (log scale, same floor): before ≫ after.
    const heights = bars.map(rectHeight);
    expect(heights[0]!).toBeGreaterThan(heights[1]! + 50);
  });

  it('kernel chart: a tooltip with query, key and γ; cells coloured by γ', async () => {
    const spec = kernelChart(kernels) as { spec: { encoding: { tooltip: { field: string }[] } } };
    expect(spec.spec.encoding.tooltip.map((t) => t.field)).toEqual(['panel', 'query', 'key', 'gamma']);
    expect(JSON.stringify(compile(kernelChart(kernels)).spec)).toMatch(/"tooltip"/);
    const svg = await svgOf(kernelChart(kernels));
    const cells = svg.match(/<g class="mark-rect role-mark[^"]*"[^>]*>.*?<\/g>/gs)!.join('');
    const fills = [...cells.matchAll(/<path [^>]*?fill="([^"]+)"/g)].map((m) => m[1]);
    expect(fills).toHaveLength(2 * 9);
    expect(new Set(fills).size).toBeGreaterThan(3);
    // The tooltip's fields are in each cell's accessible label too.
    expect(cells).toMatch(/aria-label="[^"]*query x: 1 b; key x̃: 0 a; γ\(x, x̃\): 0\.2500"/);
  });

  it('trajectory chart with `at` marks one point per token, at the nearest saved depth', async () => {
    const spec = trajectoryChart(points, { at: 0.6 }) as {
      layer: { data?: { values: TrajectoryPoint[] } }[];
    };
    expect(spec.layer).toHaveLength(3);
    const marked = spec.layer[2]!.data!.values;
    expect(marked.map((p) => p.token)).toEqual(['0 a', '1 b', '2 c']);
    expect(marked.every((p) => p.t === 0.5)).toBe(true);
    const svg = await svgOf(trajectoryChart(points, { at: 0.6 }));
    expect(markPaths(svg, 'mark-symbol', 'layer_2_marks')).toHaveLength(3);
    expect(markPaths(svg, 'mark-symbol', 'layer_1_marks')).toHaveLength(points.length);
    expect((trajectoryChart(points) as { layer: unknown[] }).layer).toHaveLength(2);
    for (const d of markPaths(svg, 'mark-line')) expect(d.length).toBeGreaterThan(10);
  });

  it('state chart: a cell per token and feature, diverging colours centred on 0, a tooltip', async () => {
    const spec = stateChart(state) as {
      data: { values: unknown[] };
      encoding: { color: { scale: { domainMid: number } }; tooltip: unknown[] };
    };
    expect(spec.data.values).toHaveLength(6);
    expect(spec.encoding.color.scale.domainMid).toBe(0);
    expect(spec.encoding.tooltip).toHaveLength(3);
    const bars = markPaths(await svgOf(stateChart(state)), 'mark-rect');
    expect(bars).toHaveLength(6);
    for (const d of bars) expect(rectHeight(d)).toBeGreaterThan(1);
  });

  it('image charts: a visible cell per patch and head, the query outlined, and every pixel of the pictures', async () => {
    const panels = [0, 1].map((head) => ({
      resolution: '24×24',
      layer: 0,
      head,
      rows: 2,
      cols: 3,
      query: [1, 2] as const,
      gamma: [
        [0.5, 1, 1.5],
        [0.2, 0.8, head + 1],
      ],
    }));
    const svg = await svgOf(imageKernelChart(panels));
    const cells = markPaths(svg, 'mark-rect', 'child_layer_0_marks');
    expect(cells).toHaveLength(2 * 6);
    for (const d of cells) expect(rectHeight(d)).toBeGreaterThan(10);
    expect(markPaths(svg, 'mark-rect', 'child_layer_1_marks')).toHaveLength(2); // one outlined query per panel
    const picture = {
      resolution: '2×2',
      label: 'disc',
      rgb: [
        ['#ff0000', '#00ff00'],
        ['#0000ff', '#ffffff'],
      ],
    };
    const pixels = markPaths(await svgOf(pictureChart([picture])), 'mark-rect');
    expect(pixels).toHaveLength(4);
    for (const d of pixels) expect(rectHeight(d)).toBeGreaterThan(10);
  });
});
