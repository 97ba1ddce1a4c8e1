import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { runtimeEnvironment } from '../environment.js';
import { describeEachBackend, testBackends } from './backends.js';

describe('testBackends', () => {
  it('lists cpu and wasm in Node, webgl in a browser', () => {
    expect(testBackends()).toEqual(runtimeEnvironment() === 'node' ? ['cpu', 'wasm'] : ['webgl']);
  });
});

const seen: string[] = [];
describeEachBackend('describeEachBackend', (backend) => {
  it('activates the backend inside the block', () => {
    expect(tf.getBackend()).toBe(backend);
    seen.push(backend);
  });
});

describe('describeEachBackend coverage', () => {
  it('ran on each test backend', () => {
    expect(seen).toEqual(testBackends());
  });
});
