import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { BackendError, TideError } from './errors.js';
import { activeBackend, engineInfo, initEngine, registeredBackends } from './engine.js';
import { runtimeEnvironment } from './environment.js';

describe('initEngine (Node)', () => {
  afterAll(async () => {
    await initEngine({ backend: 'cpu' });
  });

  it('runs in node and registers wasm before cpu, never webgl', () => {
    expect(runtimeEnvironment()).toBe('node');
    expect(registeredBackends()).toEqual(['wasm', 'cpu']);
  });

  it("'auto' chooses wasm in Node and reports it", async () => {
    const info = await initEngine();
    expect(info).toMatchObject({ backend: 'wasm', environment: 'node', float32: true, skipped: [], simdKernels: true });
    expect(tf.getBackend()).toBe('wasm');
    expect(engineInfo()).toBe(info);
    expect(activeBackend()).toBe('wasm');
  });

  it('an explicit backend is activated and computes', async () => {
    const info = await initEngine({ backend: 'cpu' });
    expect(info.backend).toBe('cpu');
    expect(info.simdKernels).toBe(false); // TIDE's SIMD kernels are wasm's
    const y = tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]]));
    expect(Array.from(y.dataSync())).toEqual([11]);
    tf.dispose(y);
  });

  it('an explicit webgl in Node throws a BackendError listing the available backends', async () => {
    const attempt = initEngine({ backend: 'webgl' });
    await expect(attempt).rejects.toBeInstanceOf(BackendError);
    await expect(initEngine({ backend: 'webgl' })).rejects.toThrow(/registered in this node environment \(wasm, cpu\)/);
  });

  it('an unknown backend name throws a BackendError naming the allowed values', async () => {
    const err = await initEngine({ backend: 'gpu' as never }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect(err).toBeInstanceOf(TideError);
    expect((err as TideError).received).toBe('"gpu"');
    expect((err as Error).message).toMatch(
      /expected one of 'auto', 'webgl', 'wasm', 'cpu'.*Fix: pass one of the backends available here: wasm, cpu/,
    );
  });

  it('bad wasmPaths are a BackendError naming the binaries, before any backend changes', async () => {
    for (const bad of ['', 42, ['x/'], { 'other.wasm': 'x' }, { 'tfjs-backend-wasm.wasm': 3 }]) {
      const err = await initEngine({ backend: 'cpu', wasmPaths: bad as never }).catch((e: unknown) => e);
      expect(err, String(bad)).toBeInstanceOf(BackendError);
      expect((err as Error).message).toMatch(/expected a URL prefix, or a map from tfjs-backend-wasm\.wasm/);
    }
  });

  it('a wasmPaths prefix is accepted and the chosen backend still computes', async () => {
    const info = await initEngine({ backend: 'cpu', wasmPaths: 'https://example.invalid/wasm/' });
    expect(info.backend).toBe('cpu');
  });
});
