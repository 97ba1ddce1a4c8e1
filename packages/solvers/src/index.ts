/**
 * `@tide/solvers`: time stepping for the integro-differential model (paper §4; docs/splitting-and-recovery.md) — sub-step kinds,
 * Lie/Strang/parallel splitting, explicit Runge–Kutta on the unsplit field, time grids, parameter schedules
 * θ(t), saved trajectories and statistics. Operators come in through the contract of `@tide/domain`; no
 * solver knows a concrete operator.
 *
 * @packageDocumentation
 */
export { SolverError } from './errors.js';
export { timeGrid } from './time-grid.js';
export type { StepControl } from './time-grid.js';
export {
  piecewiseConstant,
  linearInterpolation,
  scheduleFromFunction,
  mapSchedule,
  lerpTensors,
  isSchedule,
  valueAt,
  checkCoverage,
} from './schedule.js';
export type { Schedule, TimeDependent } from './schedule.js';
export { explicitStep, projectionStep, semiImplicitStep, relaxationStep, pointwiseStep } from './sub-steps.js';
export type {
  SubStep,
  ExplicitSubStep,
  ProjectionSubStep,
  SemiImplicitSubStep,
  RelaxationSubStep,
  PointwiseSubStep,
  OperatorUse,
} from './sub-steps.js';
export { lieSplitting, strangSplitting, parallelSplitting, explicitEuler, heun, rk4 } from './schemes.js';
export type { Scheme, SplittingScheme, ParallelScheme, RungeKuttaScheme } from './schemes.js';
export { solve } from './solve.js';
export type { SolveOptions, Solution, SolverStatistics } from './solve.js';
export type { StepContext, SubStepObserver } from './step-context.js';
