/**
 * Runs a test body on every backend available in the current environment:
 * `cpu` and `wasm` in Node, `webgl` in a browser. `TIDE_TEST_BACKENDS=cpu,wasm` narrows the list.
 */
import { tf } from '#tfjs-core';
import { beforeAll, describe } from 'vitest';
import { initEngine, registeredBackends, type BackendName } from '../engine.js';
import { runtimeEnvironment } from '../environment.js';

/** The backends the tests of this environment run on. */
export function testBackends(): BackendName[] {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  const override = env?.['TIDE_TEST_BACKENDS'];
  const registered = registeredBackends();
  const wanted: BackendName[] =
    override !== undefined && override !== ''
      ? (override.split(',').map((s) => s.trim()) as BackendName[])
      : runtimeEnvironment() === 'browser'
        ? ['webgl']
        : ['cpu', 'wasm'];
  return wanted.filter((b) => registered.includes(b));
}

/** Activates `backend` for a test (float32 required on webgl; tiny ops stay on the GPU). */
export async function useBackend(backend: BackendName): Promise<void> {
  await initEngine({ backend });
  tf.env().set('IS_TEST', true);
  if (backend === 'webgl') tf.env().set('WEBGL_CPU_FORWARD', false);
}

/** `describe(title + ' [' + backend + ']')` once per test backend, with the backend active inside. */
export function describeEachBackend(title: string, body: (backend: BackendName) => void): void {
  for (const backend of testBackends()) {
    describe(`${title} [${backend}]`, () => {
      beforeAll(async () => {
        await useBackend(backend);
      });
      body(backend);
    });
  }
}
