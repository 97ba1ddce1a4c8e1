// Browser lane only (vitest browser mode, Chromium): the engine chooses WebGL with float32 textures.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { BackendError } from './errors.js';
import { initEngine, registeredBackends } from './engine.js';
import { runtimeEnvironment } from './environment.js';

describe('initEngine (browser)', () => {
  it("'auto' chooses webgl with float32 render targets", async () => {
    expect(runtimeEnvironment()).toBe('browser');
    expect(registeredBackends()[0]).toBe('webgl');
    const info = await initEngine();
    expect(info).toMatchObject({ backend: 'webgl', environment: 'browser', float32: true });
    expect(tf.env().getBool('WEBGL_RENDER_FLOAT32_ENABLED')).toBe(true);
    const y = tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]]));
    expect(Array.from(await y.data())).toEqual([11]);
    y.dispose();
  });

  it('an unknown backend is refused with the list of available ones', async () => {
    await expect(initEngine({ backend: 'webgpu' as never })).rejects.toBeInstanceOf(BackendError);
  });
});
