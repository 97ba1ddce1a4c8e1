/** Where TIDE runs: a browser page or worker, or Node. One test, used by the engine and the gradients. */

/** The two environments the engine knows. */
export type RuntimeEnvironment = 'browser' | 'node';

/** `'browser'` in a page or worker (even one that polyfills `process`), else `'node'` when Node's version is set. */
export function runtimeEnvironment(): RuntimeEnvironment {
  const g = globalThis as { document?: unknown; importScripts?: unknown; process?: { versions?: { node?: string } } };
  if (g.document !== undefined || typeof g.importScripts === 'function') return 'browser';
  return g.process?.versions?.node !== undefined ? 'node' : 'browser';
}
