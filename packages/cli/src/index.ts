/**
 * `@tide/cli`: the `tide` program — `forward`, `generate`, `inspect`, `train` and `run` (the study: generated
 * text, the same tokens re-solved over depth with refined schemes, and an HTML report of what happens inside),
 * on the shared tfjs engine (docs/checkpoints.md for the file contract). The study's charts and analyses, without
 * Node, are the `@tide/cli/study` entry.
 *
 * @packageDocumentation
 */
export { runCli, DEFAULT_MODEL_DIR } from './cli.js';
export { describeModel } from './commands.js';
export type { CliIO } from './cli.js';
export { runStudy } from './study.js';
export type { StudyProgress, StudyResult } from './study.js';
export { writeReport } from './report.js';
export { reportCharts } from './charts.js';
export type { ReportData } from './charts.js';
