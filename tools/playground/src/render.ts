/**
 * Draws a Vega-Lite spec (the report's chart specifications, `@tide/cli/study`) into a figure of the page as
 * SVG, replacing the chart it held. Hovering a mark shows its tooltip (the tokens of a kernel cell).
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

const views = new WeakMap<HTMLElement, vega.View>();

/** Renders `spec` into `container` (its previous chart is finalised first). */
export async function renderChart(container: HTMLElement, spec: TopLevelSpec): Promise<void> {
  views.get(container)?.finalize();
  container.replaceChildren();
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'svg', container, hover: true });
  views.set(container, view);
  await view.runAsync();
}
