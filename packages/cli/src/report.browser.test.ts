// Browser lane: Chromium opens the report that `tide run` wrote (tools/browser-lane/run.mjs generates it first)
// and every chart must have rendered, with data in it that covers visible area.
import { expect, it } from 'vitest';

it('the report page renders every chart with data', async () => {
  const frame = document.createElement('iframe');
  frame.style.width = '1200px';
  frame.style.height = '2400px';
  const loaded = new Promise((resolve) => frame.addEventListener('load', resolve, { once: true }));
  frame.src = '/reports/browser-lane/index.html';
  document.body.append(frame);
  await loaded;
  const doc = frame.contentDocument!;
  expect(doc.querySelector('h1')?.textContent).toMatch(/integro-differential/);
  const figures = [...doc.querySelectorAll<HTMLElement>('figure[data-chart]')];
  // The embedded models' charts: the text model's four, anytime depth beside the continuous model (its orders
  // and its cost–loss curve), then the shapes ViT's pictures and kernels.
  expect(figures.map((f) => f.dataset['chart'])).toEqual([
    'kernels',
    'trajectories',
    'constraint',
    'refinement',
    'continuum',
    'anytime',
    'pictures',
    'image-kernels',
  ]);
  // What each chart must show, as visible area rather than a count of marks (an empty chart can have every mark).
  const visible: Record<string, (svg: SVGSVGElement) => void> = {
    kernels: (svg) => {
      const cells = [...svg.querySelectorAll<SVGPathElement>('g.mark-rect path')];
      expect(cells.length, 'kernels: cells').toBeGreaterThanOrEqual(16 * 24 * 24);
      // γ varies: the cells are not one colour.
      expect(new Set(cells.map((c) => c.getAttribute('fill'))).size, 'kernels: distinct fills').toBeGreaterThan(20);
      for (const c of cells.slice(0, 50))
        expect(c.getBBox().width * c.getBBox().height, 'kernels: cell area').toBeGreaterThan(1);
    },
    trajectories: (svg) => {
      const lines = [...svg.querySelectorAll<SVGPathElement>('g.mark-line path')];
      expect(lines.length, 'trajectories: lines').toBeGreaterThanOrEqual(24);
      for (const l of lines) {
        expect(l.getAttribute('d') ?? '', 'trajectories: line path').toMatch(/^M.*L/);
        const box = l.getBBox();
        expect(box.width + box.height, 'trajectories: line extent').toBeGreaterThan(1);
      }
    },
    constraint: (svg) => {
      const bars = [...svg.querySelectorAll<SVGPathElement>('g.mark-rect path')];
      expect(bars.length, 'constraint: bars').toBeGreaterThanOrEqual(8);
      for (const b of bars)
        expect(b.getBBox().height, `constraint: bar height (${b.getAttribute('d')})`).toBeGreaterThan(1);
    },
    refinement: (svg) => {
      const lines = [...svg.querySelectorAll<SVGPathElement>('g.mark-line path')];
      expect(lines.length, 'refinement: lines').toBeGreaterThanOrEqual(4);
      for (const l of lines) expect(l.getBBox().width, 'refinement: line extent').toBeGreaterThan(1);
    },
    pictures: (svg) => {
      const pixels = [...svg.querySelectorAll<SVGPathElement>('g.mark-rect path')];
      expect(pixels.length, 'pictures: a cell per pixel at 32 × 32 and 48 × 48').toBe(32 * 32 + 48 * 48);
      expect(new Set(pixels.map((c) => c.getAttribute('fill'))).size, 'pictures: distinct colours').toBeGreaterThan(4);
      for (const c of pixels.slice(0, 50))
        expect(c.getBBox().width * c.getBBox().height, 'pictures: pixel area').toBeGreaterThan(1);
    },
    'image-kernels': (svg) => {
      const cells = [...svg.querySelectorAll<SVGPathElement>('g.mark-rect path')];
      // 4 layers × 4 heads, on the 4 × 4 and the 6 × 6 grid, and an outlined query per panel.
      expect(cells.length, 'image kernels: cells').toBeGreaterThanOrEqual(16 * (16 + 36) + 2 * 16);
      expect(new Set(cells.map((c) => c.getAttribute('fill'))).size, 'image kernels: distinct fills').toBeGreaterThan(
        20,
      );
      for (const c of cells.slice(0, 50))
        expect(c.getBBox().width * c.getBBox().height, 'image kernels: cell area').toBeGreaterThan(1);
    },
    continuum: (svg) => {
      const lines = [...svg.querySelectorAll<SVGPathElement>('g.mark-line path')];
      expect(lines.length, 'continuum: lines (Lie, Strang, RK4)').toBe(3);
      for (const l of lines) expect(l.getBBox().width, 'continuum: line extent').toBeGreaterThan(1);
    },
    anytime: (svg) => {
      const lines = [...svg.querySelectorAll<SVGPathElement>('g.mark-line path')];
      expect(lines.length, 'anytime: a line per solve method').toBe(2);
      for (const l of lines) expect(l.getBBox().width, 'anytime: line extent').toBeGreaterThan(1);
      expect(
        svg.querySelectorAll('g.mark-rule.role-mark line').length,
        'anytime: the discrete loss (axis grids are rules too)',
      ).toBe(1);
    },
  };
  for (const figure of figures) {
    const name = figure.dataset['chart']!;
    const svg = figure.querySelector('svg');
    expect(svg, name).not.toBeNull();
    const box = svg!.getBoundingClientRect();
    expect(box.width, name).toBeGreaterThan(200);
    expect(box.height, name).toBeGreaterThan(150);
    visible[name]!(svg!);
    expect(svg!.outerHTML, name).not.toMatch(/NaN|Infinity/);
  }
  frame.remove();
});
