/**
 * `@tide/solvers`: time stepping for the integro-differential model (paper §4; docs/splitting-and-recovery.md) — sub-step kinds,
 * Lie/Strang/parallel splitting, explicit Runge–Kutta on the unsplit field, time grids, parameter schedules
 * θ(t), saved trajectories and statistics; and adaptive step-size control to a tolerance (paper §5, continuous
 * depth; docs/continuous-depth.md): embedded pairs, step doubling, the scaled error norm and a PI controller; and
 * memory-light gradients through a fixed-step solve (`gradients: { method: 'checkpoint', params }`, or the
 * continuous adjoint `'adjoint'`; paper §5, docs/continuous-depth.md). Operators come in through the contract of
 * `@tide/domain`; no solver knows a concrete operator.
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
export { bogackiShampine, dormandPrince } from './embedded-runge-kutta.js';
export { fieldScheme, FIELD_SCHEME_NAMES } from './field-scheme.js';
export type { FieldSchemeName } from './field-scheme.js';
export type { EmbeddedRungeKuttaScheme } from './embedded-runge-kutta.js';
export { BOGACKI_SHAMPINE_32, DORMAND_PRINCE_54 } from './tableaux.js';
export type { EmbeddedTableau } from './tableaux.js';
export { stepDoubling } from './step-doubling.js';
export type { StepDoublingScheme } from './step-doubling.js';
export type { ErrorEstimator, StageRate, TrialStep } from './error-estimate.js';
export { scaledErrorNorm } from './error-norm.js';
export { PI_CONTROLLER } from './controller.js';
export { solve } from './solve.js';
export type { SolveOptions, Solution, SolverStatistics } from './solve.js';
export type { GradientMode, CheckpointGradients, AdjointGradients, AdjointStates } from './gradient-mode.js';
export type { AdaptiveStepControl } from './adaptive-solve.js';
export type { AdaptiveStatistics, StepContext, SubStepObserver } from './step-context.js';
export {
  legendreControl,
  legendreControlEnergy,
  fitLegendre,
  legendrePolynomials,
  legendreDerivatives,
  legendreDerivativeGram,
} from './legendre-control.js';
export type { LegendreControlOptions, LegendreSamples } from './legendre-control.js';
