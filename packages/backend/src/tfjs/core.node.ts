/**
 * tfjs-core in Node, loaded with `require` (see `core.ts`): the same CommonJS module an ES `import` of the
 * package would wrap, so a program still holds exactly one tfjs-core.
 */
import { createRequire } from 'node:module';
import type * as Core from '@tensorflow/tfjs-core';

const require = createRequire(import.meta.url);

export const tf = require('@tensorflow/tfjs-core') as typeof Core;
