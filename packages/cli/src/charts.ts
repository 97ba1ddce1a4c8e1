/**
 * The Vega-Lite specifications of the study's charts, shared by the `tide run` report (rendered to SVG in Node)
 * and the browser playground (rendered live), so that the two cannot drift apart.
 *
 * Browser-safe: this module imports only Vega-Lite's types (no Node module, no Vega runtime); it builds plain
 * JSON specs from plain rows (see `analysis.ts` for the rows).
 */
import type { TopLevelSpec } from 'vega-lite';

/** The attention kernel γ_m(x, x̃) of one layer and head on the first tokens (rows: query x, columns: key x̃). */
export interface KernelPanel {
  readonly layer: number;
  readonly head: number;
  /** The labels of the tokens shown (rows and columns). */
  readonly tokens: readonly string[];
  /** `gamma[i][j]` = γ(x_i, x_j). */
  readonly gamma: readonly (readonly number[])[];
}

/** One token's state at depth t, projected on two principal components. */
export interface TrajectoryPoint {
  /** `"<index> <label>"`, e.g. `"3 e"`: one trajectory per distinct value. */
  readonly token: string;
  readonly t: number;
  readonly pc1: number;
  readonly pc2: number;
}

/** The mean distance to S₁(0, 1) just before or just after one projection sub-step. */
export interface ConstraintDistance {
  /** Which projection, e.g. `"layer 0 · P₁"`. */
  readonly step: string;
  readonly when: 'before' | 'after';
  readonly distance: number;
}

/** The error of one scheme at one step size Δt, with the order fitted over all of that scheme's step sizes. */
export interface RefinementPoint {
  readonly scheme: string;
  readonly dt: number;
  readonly error: number;
  readonly order: number;
}

/** One refinement of a model against its fine reference (the depth table of docs/continuous-depth.md). */
export interface DepthRow {
  readonly model: string;
  readonly label: string;
  readonly maxAbs: number;
  /** Mean over tokens of KL(reference ‖ this solve), nats. */
  readonly kl: number;
  readonly evaluations: number;
}

/** Held-out loss of one solve of a model against the rate evaluations it cost (anytime depth). */
export interface AnytimePoint {
  readonly method: string;
  readonly setting: string;
  /** Mean next-token cross-entropy, nats per token. */
  readonly loss: number;
  readonly evaluations: number;
}

/** The anytime-depth part of the report: two models side by side, and the continuous one's cost–loss curve. */
export interface DepthReport {
  /** The depth table, as printed. */
  readonly table: readonly string[];
  readonly rows: readonly DepthRow[];
  /** Error against Δt on the model whose continuum exists, with fitted orders. */
  readonly orders: readonly RefinementPoint[];
  readonly anytime: readonly AnytimePoint[];
  /** The discrete model's held-out loss with its own (exact) scheme, drawn as a reference line. */
  readonly discreteLoss?: number;
}

/** One kernel image of the report: γ(x, ·) of the query patch on the patch grid. */
export interface ImageKernelPanel {
  readonly resolution: string;
  readonly layer: number;
  readonly head: number;
  readonly rows: number;
  readonly cols: number;
  readonly query: readonly [number, number];
  /** `[rows][cols]`. */
  readonly gamma: readonly (readonly number[])[];
}

/** A held-out picture as RGB rows (for the report), values in [0, 1]. */
export interface PicturePanel {
  readonly resolution: string;
  readonly rgb: readonly (readonly string[])[];
  readonly label: string;
}

/** The image part of the report: held-out accuracy per resolution, kernels of a query patch, the pictures. */
export interface ImageStudy {
  readonly table: readonly string[];
  readonly accuracies: readonly { readonly size: number; readonly accuracy: number; readonly note: string }[];
  readonly kernels: readonly ImageKernelPanel[];
  readonly pictures: readonly PicturePanel[];
}

/** What the report shows. */
export interface ReportData {
  readonly title: string;
  readonly summary: readonly string[];
  readonly text: { readonly prompt: string; readonly generated: string };
  /** γ per layer and head on the first tokens. */
  readonly kernels: readonly KernelPanel[];
  /** Per token, its 2-D projection at each saved time. */
  readonly trajectories: readonly TrajectoryPoint[];
  /** Mean distance to S₁ before and after each projection sub-step. */
  readonly constraint: readonly ConstraintDistance[];
  /** Error against Δt per scheme, with the fitted order. */
  readonly refinement: readonly RefinementPoint[];
  /** The refinement table printed by the CLI. */
  readonly table: readonly string[];
  /** Anytime depth: the default model beside the one trained for its continuum (when it is shipped). */
  readonly depth?: DepthReport;
  /** The embedded image model on held-out pictures (when it is shipped). */
  readonly images?: ImageStudy;
}

/** The caption of each chart (the report's figure captions; the playground's headings). */
export const CHART_TITLES: Record<
  | 'kernels'
  | 'trajectories'
  | 'constraint'
  | 'refinement'
  | 'state'
  | 'anytime'
  | 'continuum'
  | 'pictures'
  | 'imageKernels',
  string
> = {
  kernels: 'Attention kernels γ(x, x̃) per layer and head (rows: query x, columns: key x̃; each row integrates to 1)',
  trajectories: 'Token trajectories u(x, ·, t) over depth t ∈ [0, T], projected on two principal components',
  constraint:
    'Distance to the constraint set S₁(0, 1) before and after each projection sub-step (mean over tokens, log scale)',
  refinement:
    'Error of the output at t = T (logits of a language model) against Δt (reference: RK4 with a fine step), fitted orders in the legend',
  state: 'The state u(x, y, t): rows are tokens x, columns are features y',
  anytime:
    'Anytime depth: held-out loss of the continuous model against rate evaluations (fixed RK4 steps, adaptive Dormand–Prince tolerances)',
  continuum:
    'The continuous model: error of the logits against Δt in the asymptotic range (reference: RK4 with 256 steps per unit time), fitted orders in the legend',
  pictures:
    'A held-out picture of the shapes task at the trained resolution and at 1.5× (one function on Ω_x = [0, 1]², two pixel grids)',
  imageKernels:
    'Attention kernels γ(x, ·) of the centre patch x (outlined) on the 2-D patch grid, per layer and head, at both resolutions (density over Ω_x; the class point is left out)',
};

const schema = 'https://vega.github.io/schema/vega-lite/v6.json';

/** The distances plotted on the log axis are clamped here (an exact projection can reach 0, which a log axis cannot show). */
const SMALLEST_DISTANCE = 1e-8;

/** `i` zero-padded to the width of `n − 1`, so that ordinal axes sort labels in token order. */
function indexLabel(i: number, n: number): string {
  return String(i).padStart(String(Math.max(0, n - 1)).length, '0');
}

/**
 * Heatmaps of γ(x, x̃), one facet per `layer l · head h` (viridis; hover shows the query token, the key token and γ).
 */
export function kernelChart(kernels: readonly KernelPanel[]): TopLevelSpec {
  const values = kernels.flatMap((k) =>
    k.gamma.flatMap((row, i) =>
      row.map((g, j) => ({
        panel: `layer ${k.layer} · head ${k.head}`,
        query: `${indexLabel(i, k.gamma.length)} ${k.tokens[i] ?? ''}`,
        key: `${indexLabel(j, row.length)} ${k.tokens[j] ?? ''}`,
        gamma: g,
      })),
    ),
  );
  return {
    $schema: schema,
    data: { values },
    facet: { field: 'panel', type: 'nominal', title: null, sort: null },
    columns: Math.max(1, Math.min(4, new Set(kernels.map((k) => k.head)).size)),
    spec: {
      width: 150,
      height: 150,
      mark: 'rect',
      encoding: {
        x: { field: 'key', type: 'ordinal', axis: null },
        y: { field: 'query', type: 'ordinal', axis: null },
        color: { field: 'gamma', type: 'quantitative', scale: { scheme: 'viridis' }, title: 'γ' },
        tooltip: [
          { field: 'panel', type: 'nominal', title: 'kernel' },
          { field: 'query', type: 'ordinal', title: 'query x' },
          { field: 'key', type: 'ordinal', title: 'key x̃' },
          { field: 'gamma', type: 'quantitative', title: 'γ(x, x̃)', format: '.4f' },
        ],
      },
    },
  } as TopLevelSpec;
}

/**
 * Token trajectories in the plane of two principal components: a line per token ordered by depth t, points
 * fading in with t. With `at`, an extra layer marks each token's point whose t is nearest to `at` (larger filled
 * points, outlined): the depth slider's position.
 */
export function trajectoryChart(points: readonly TrajectoryPoint[], options: { at?: number } = {}): TopLevelSpec {
  const x = { field: 'pc1', type: 'quantitative', title: 'PC 1' } as const;
  const y = { field: 'pc2', type: 'quantitative', title: 'PC 2' } as const;
  const color = { field: 'token', type: 'nominal', legend: null } as const;
  const tooltip = [
    { field: 'token', type: 'nominal', title: 'token' },
    { field: 't', type: 'quantitative', title: 'depth t', format: '.3f' },
  ];
  const layer: object[] = [
    {
      mark: { type: 'line', opacity: 0.7 },
      encoding: { x, y, color, order: { field: 't', type: 'quantitative' } },
    },
    {
      mark: { type: 'point', filled: true, size: 18 },
      encoding: { x, y, color, opacity: { field: 't', type: 'quantitative', legend: null }, tooltip },
    },
  ];
  const at = options.at;
  if (at !== undefined && Number.isFinite(at)) {
    const nearest = new Map<string, TrajectoryPoint>();
    for (const p of points) {
      const best = nearest.get(p.token);
      if (best === undefined || Math.abs(p.t - at) < Math.abs(best.t - at)) nearest.set(p.token, p);
    }
    layer.push({
      data: { values: [...nearest.values()].map((p) => ({ ...p })) },
      mark: { type: 'point', filled: true, size: 90, opacity: 1, stroke: '#222', strokeWidth: 1 },
      encoding: { x, y, color, tooltip },
    });
  }
  return {
    $schema: schema,
    width: 520,
    height: 360,
    data: { values: points.map((p) => ({ ...p })) },
    layer,
  } as TopLevelSpec;
}

/**
 * The mean distance to S₁ before and after each projection, as bars on a log axis (before and after differ by
 * orders of magnitude). A bar cannot start at 0 on a log axis: the bars start at a floor, the power of ten
 * one decade below the smallest distance, where the y axis starts too (it ends at the power of ten at or above
 * the largest). Distances below 10⁻⁸ (an exact
 * projection) are drawn at 10⁻⁸; the tooltip shows the measured value.
 */
export function constraintChart(rows: readonly ConstraintDistance[]): TopLevelSpec {
  const values = rows.map((c) => ({ ...c, measured: c.distance, distance: Math.max(c.distance, SMALLEST_DISTANCE) }));
  const finite = values.map((v) => v.distance).filter(Number.isFinite);
  const floor = finite.length > 0 ? 10 ** (Math.floor(Math.log10(Math.min(...finite))) - 1) : SMALLEST_DISTANCE;
  const ceiling = finite.length > 0 ? 10 ** Math.ceil(Math.log10(Math.max(...finite))) : 1;
  return {
    $schema: schema,
    width: 520,
    height: 260,
    data: { values },
    mark: 'bar',
    encoding: {
      x: { field: 'step', type: 'nominal', sort: null, title: 'projection sub-step' },
      xOffset: { field: 'when', type: 'nominal', sort: ['before', 'after'] },
      y: {
        field: 'distance',
        type: 'quantitative',
        scale: { type: 'log', domain: [floor, Math.max(ceiling, 10 * floor)] },
        title: 'dist(u, S₁) in L²(Ω_y) (log)',
      },
      y2: { datum: floor },
      color: { field: 'when', type: 'nominal', sort: ['before', 'after'] },
      tooltip: [
        { field: 'step', type: 'nominal', title: 'projection' },
        { field: 'when', type: 'nominal' },
        { field: 'measured', type: 'quantitative', title: 'distance', format: '.3e' },
      ],
    },
  } as TopLevelSpec;
}

/** The error against Δt per scheme on log–log axes; the legend names each scheme with its fitted order. */
export function refinementChart(rows: readonly RefinementPoint[]): TopLevelSpec {
  return {
    $schema: schema,
    width: 520,
    height: 320,
    data: { values: rows.map((r) => ({ ...r, label: `${r.scheme} (order ${r.order.toFixed(2)})` })) },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'dt', type: 'quantitative', scale: { type: 'log' }, title: 'Δt' },
      y: { field: 'error', type: 'quantitative', scale: { type: 'log' }, title: 'max |Δ output|' },
      color: { field: 'label', type: 'nominal', title: 'scheme' },
      tooltip: [
        { field: 'scheme', type: 'nominal' },
        { field: 'dt', type: 'quantitative', title: 'Δt', format: '.4f' },
        { field: 'error', type: 'quantitative', format: '.3e' },
        { field: 'order', type: 'quantitative', format: '.2f' },
      ],
    },
  } as TopLevelSpec;
}

/**
 * A heatmap of the state u(x, y, t): a row per token, a column per feature, a diverging colour scheme centred
 * on 0 (hover shows token, feature and value).
 */
export function stateChart(state: {
  tokens: readonly string[];
  values: readonly (readonly number[])[];
  t: number;
}): TopLevelSpec {
  const n = state.values.length;
  const values = state.values.flatMap((row, i) =>
    row.map((u, j) => ({
      token: `${indexLabel(i, n)} ${state.tokens[i] ?? ''}`,
      feature: j,
      u,
    })),
  );
  const features = Math.max(0, ...state.values.map((r) => r.length));
  return {
    $schema: schema,
    title: `u(x, y, t = ${Number.isFinite(state.t) ? Number(state.t.toFixed(3)) : state.t})`,
    width: Math.max(150, Math.min(720, 6 * features)),
    height: Math.max(100, Math.min(480, 14 * n)),
    data: { values },
    mark: 'rect',
    encoding: {
      x: { field: 'feature', type: 'ordinal', title: 'feature y', axis: { labels: features <= 64 } },
      y: { field: 'token', type: 'ordinal', title: 'token x' },
      color: {
        field: 'u',
        type: 'quantitative',
        scale: { scheme: 'redblue', reverse: true, domainMid: 0 },
        title: 'u',
      },
      tooltip: [
        { field: 'token', type: 'ordinal', title: 'token x' },
        { field: 'feature', type: 'ordinal', title: 'feature y' },
        { field: 'u', type: 'quantitative', title: 'u(x, y, t)', format: '.4f' },
      ],
    },
  } as TopLevelSpec;
}

/**
 * Held-out loss against rate evaluations (log x): one line per method, a point per setting (hover names it); the
 * discrete model's loss with its own scheme as a horizontal rule when given.
 */
export function anytimeChart(points: readonly AnytimePoint[], discreteLoss?: number): TopLevelSpec {
  const line = {
    mark: { type: 'line', point: { filled: true, size: 50 } },
    encoding: {
      x: { field: 'evaluations', type: 'quantitative', scale: { type: 'log' }, title: 'rate evaluations per solve' },
      y: { field: 'loss', type: 'quantitative', scale: { zero: false }, title: 'held-out loss (nats/token)' },
      color: { field: 'method', type: 'nominal', title: 'solve' },
      tooltip: [
        { field: 'method', type: 'nominal' },
        { field: 'setting', type: 'nominal' },
        { field: 'evaluations', type: 'quantitative', format: '.0f' },
        { field: 'loss', type: 'quantitative', format: '.4f' },
      ],
    },
  };
  const rule = {
    data: { values: [{ loss: discreteLoss, label: 'discrete model, exact scheme' }] },
    mark: { type: 'rule', strokeDash: [4, 4], color: '#888' },
    encoding: { y: { field: 'loss', type: 'quantitative' }, tooltip: [{ field: 'label', type: 'nominal' }] },
  };
  return {
    $schema: schema,
    width: 520,
    height: 300,
    data: { values: points.map((p) => ({ ...p })) },
    layer: discreteLoss === undefined ? [line] : [line, rule],
  } as TopLevelSpec;
}

/** The pictures as pixel grids (each cell its own RGB colour). */
export function pictureChart(pictures: readonly PicturePanel[]): TopLevelSpec {
  const values = pictures.flatMap((p) =>
    p.rgb.flatMap((row, r) => row.map((rgb, c) => ({ panel: `${p.resolution}: ${p.label}`, row: r, col: c, rgb }))),
  );
  return {
    $schema: schema,
    data: { values },
    facet: { field: 'panel', type: 'nominal', title: null, sort: null },
    spec: {
      width: 160,
      height: 160,
      mark: 'rect',
      encoding: {
        x: { field: 'col', type: 'ordinal', axis: null },
        y: { field: 'row', type: 'ordinal', axis: null },
        color: { field: 'rgb', type: 'nominal', scale: null, legend: null },
      },
    },
  } as TopLevelSpec;
}

/** γ(x, ·) of a query patch as heatmaps on the patch grid, one facet per resolution · layer · head; the query outlined. */
export function imageKernelChart(panels: readonly ImageKernelPanel[]): TopLevelSpec {
  const values = panels.flatMap((p) =>
    p.gamma.flatMap((row, r) =>
      row.map((g, c) => ({
        panel: `${p.resolution} · layer ${p.layer} · head ${p.head}`,
        row: r,
        col: c,
        gamma: g,
        query: r === p.query[0] && c === p.query[1],
      })),
    ),
  );
  const cell = {
    x: { field: 'col', type: 'ordinal', axis: null },
    y: { field: 'row', type: 'ordinal', axis: null },
  };
  return {
    $schema: schema,
    data: { values },
    facet: { field: 'panel', type: 'nominal', title: null, sort: null },
    columns: Math.max(1, Math.min(4, new Set(panels.map((p) => p.head)).size)),
    spec: {
      width: 110,
      height: 110,
      layer: [
        {
          mark: 'rect',
          encoding: {
            ...cell,
            color: { field: 'gamma', type: 'quantitative', scale: { scheme: 'viridis' }, title: 'γ' },
            tooltip: [
              { field: 'panel', type: 'nominal', title: 'kernel' },
              { field: 'row', type: 'ordinal', title: 'key row' },
              { field: 'col', type: 'ordinal', title: 'key column' },
              { field: 'gamma', type: 'quantitative', title: 'γ(x, x̃)', format: '.3f' },
            ],
          },
        },
        {
          transform: [{ filter: 'datum.query' }],
          mark: { type: 'rect', fill: null, stroke: '#ff3b30', strokeWidth: 2 },
          encoding: cell,
        },
      ],
    },
  } as TopLevelSpec;
}

/**
 * The Vega-Lite specs of the report's charts: kernels, trajectories, constraint, refinement (in that order), then,
 * with anytime depth, the continuous model's orders and its cost–loss curve.
 */
export function reportCharts(data: ReportData): { id: string; title: string; spec: TopLevelSpec }[] {
  return [
    { id: 'kernels', title: CHART_TITLES.kernels, spec: kernelChart(data.kernels) },
    { id: 'trajectories', title: CHART_TITLES.trajectories, spec: trajectoryChart(data.trajectories) },
    { id: 'constraint', title: CHART_TITLES.constraint, spec: constraintChart(data.constraint) },
    { id: 'refinement', title: CHART_TITLES.refinement, spec: refinementChart(data.refinement) },
    ...(data.depth === undefined
      ? []
      : [
          { id: 'continuum', title: CHART_TITLES.continuum, spec: refinementChart(data.depth.orders) },
          {
            id: 'anytime',
            title: CHART_TITLES.anytime,
            spec: anytimeChart(data.depth.anytime, data.depth.discreteLoss),
          },
        ]),
    ...(data.images === undefined
      ? []
      : [
          { id: 'pictures', title: CHART_TITLES.pictures, spec: pictureChart(data.images.pictures) },
          { id: 'image-kernels', title: CHART_TITLES.imageKernels, spec: imageKernelChart(data.images.kernels) },
        ]),
  ];
}
