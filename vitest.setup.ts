// Runs before every test file (Node and browser lanes).
// - Quiets tfjs's Node banner (it suggests tfjs-node, which cannot install here).
// - Starts on the always-available cpu backend, so tensors built while tests are being collected have a
//   backend; describeEachBackend then switches per block (tfjs moves data between backends as needed).
// - Registers tfjs-core's gradients, for gradient checks that run outside describeEachBackend.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { registerGradients } from './packages/backend/src/gradients.js';

tf.env().set('IS_TEST', true);
await tf.setBackend('cpu');
await registerGradients();
