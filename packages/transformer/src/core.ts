/**
 * `@tide/transformer/core`: kept for one minor version. The main entry `@tide/transformer` is now browser-safe
 * itself; import from it instead.
 *
 * @deprecated Import from `@tide/transformer`.
 * @packageDocumentation
 */
export * from './index.js';
