/**
 * `@tide/cli/study`: the study's charts and analyses without the CLI, for pages that run a model in the browser
 * (the playground) and must show what `tide run`'s report shows.
 *
 * - Charts (`charts.ts`): the Vega-Lite specs of the report — {@link kernelChart}, {@link trajectoryChart},
 *   {@link constraintChart}, {@link refinementChart} — plus {@link stateChart}, with {@link CHART_TITLES} and
 *   {@link reportCharts} (the report's four charts in order). Render them with `vega-embed` or Vega.
 * - Analyses (`analysis.ts`): the rows those charts plot, computed from a model and its solves.
 * - {@link runStudy}: the whole study of `tide run` (generation, refinement table, report data).
 *
 * Browser-safe: nothing here imports a Node module or the Vega runtime.
 *
 * @packageDocumentation
 */
export {
  CHART_TITLES,
  anytimeChart,
  constraintChart,
  imageKernelChart,
  kernelChart,
  pictureChart,
  refinementChart,
  reportCharts,
  stateChart,
  trajectoryChart,
} from './charts.js';
export type {
  AnytimePoint,
  ConstraintDistance,
  DepthReport,
  DepthRow,
  ImageKernelPanel,
  ImageStudy,
  KernelPanel,
  PicturePanel,
  RefinementPoint,
  ReportData,
  TrajectoryPoint,
} from './charts.js';
export {
  anytimeDepth,
  CONTINUUM_ORDER_WINDOWS,
  CONTINUUM_ORDER_REFERENCE,
  DEPTH_REFERENCE,
  DEPTH_REFINEMENTS,
  depthTable,
  depthTableLines,
  heldOutLoss,
  runDepthStudy,
} from './depth-study.js';
export {
  constraintDistances,
  kernelsAt,
  layerKernels,
  measuredOrders,
  stateRows,
  tokenLabels,
  trajectories,
} from './analysis.js';
export type { MeasuredOrdersOptions, PassedForwardOptions } from './analysis.js';
export { runStudy } from './study.js';
export type { StudyProgress, StudyResult } from './study.js';
export { runImageStudy, shapesAccuracy, HELD_OUT_SEED } from './image-study.js';
