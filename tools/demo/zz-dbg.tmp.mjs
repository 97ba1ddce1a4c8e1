import * as tf from '@tensorflow/tfjs-core';
import * as w from '@tensorflow/tfjs-backend-wasm';
import { prepareWasmThreads } from '../../packages/backend/dist/node/wasm-threads.js';
const finish = prepareWasmThreads(w, 2);
console.log('flag', tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT'), 'Blob', globalThis.Blob.name);
await tf.setBackend('wasm');
finish();
console.log('threads', w.getThreadsCount(), 'PThread' in tf.backend().wasm);
