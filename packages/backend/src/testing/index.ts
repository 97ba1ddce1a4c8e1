/**
 * `@tide/backend/testing`: helpers every TIDE package's tests use.
 *
 * - {@link closeness} / {@link expectClose}: `atol + rtol·|expected|`, NaN and ±Inf compared exactly, worst index reported.
 * - {@link expectTensorCount} / {@link expectNoLeaks}: exact counts of surviving tensors.
 * - {@link peakBytesOf}: peak memory of one operation, net of what was alive before.
 * - {@link describeEachBackend}: a test body on each backend of this environment.
 *
 * @packageDocumentation
 */
export { closeness, expectClose } from './close.js';
export type { ClosenessReport, Numeric, Tolerance } from './close.js';
export { expectTensorCount, expectNoLeaks } from './leaks.js';
export { peakBytesOf } from './memory.js';
export { testBackends, useBackend, describeEachBackend } from './backends.js';
export { convergenceOrder } from '../order.js';
export { readmeExamples, runReadmeExamples } from './readme.js';
export { thrownBy } from './thrown.js';
