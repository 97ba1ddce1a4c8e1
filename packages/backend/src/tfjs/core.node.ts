/**
 * tfjs-core in Node, loaded with `require` (see `core.ts`): the same CommonJS module an ES `import` of the
 * package would wrap, so a program still holds exactly one tfjs-core. (Inside a CommonJS bundle, where
 * `import.meta` is empty, the bundle's own `require` is used.)
 */
import { createRequire } from 'node:module';
import type * as Core from '@tensorflow/tfjs-core';

const load = typeof require === 'function' ? require : createRequire(import.meta.url);

export const tf = load('@tensorflow/tfjs-core') as typeof Core;
