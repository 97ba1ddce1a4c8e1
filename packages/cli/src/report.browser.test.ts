// Browser lane: Chromium opens the report that `tide run` wrote (tools/browser-lane/run.mjs generates it first)
// and every chart must have rendered, with data in it.
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
  expect(figures.map((f) => f.dataset['chart'])).toEqual(['kernels', 'trajectories', 'constraint', 'refinement']);
  const minimumMarks: Record<string, number> = {
    kernels: 16 * 24 * 24,
    trajectories: 24,
    constraint: 8,
    refinement: 4,
  };
  for (const figure of figures) {
    const name = figure.dataset['chart']!;
    const svg = figure.querySelector('svg');
    expect(svg, name).not.toBeNull();
    const box = svg!.getBoundingClientRect();
    expect(box.width, name).toBeGreaterThan(200);
    expect(box.height, name).toBeGreaterThan(150);
    const marks = svg!.querySelectorAll(
      'g.mark-rect path, g.mark-line path, g.mark-symbol path, g.mark-rect rect',
    ).length;
    expect(marks, `${name}: rendered marks`).toBeGreaterThanOrEqual(minimumMarks[name]!);
    expect(svg!.outerHTML, name).not.toMatch(/NaN|Infinity/);
  }
  frame.remove();
});
