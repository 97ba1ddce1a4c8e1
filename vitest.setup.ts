// Runs before every test file: quiet tfjs's Node banner (it suggests tfjs-node, which cannot install here).
import * as tf from '@tensorflow/tfjs-core';
tf.env().set('IS_TEST', true);
