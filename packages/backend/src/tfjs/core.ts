/**
 * tfjs-core as the one `tf` namespace of the engine, loaded as an ES module (browsers and bundlers). In Node the
 * package's `imports` map ("#tfjs-core") selects `core.node.ts` instead, which loads the same package with
 * `require`: Node then skips the ES-module format detection and the CommonJS export scan of tfjs's 1 MB bundles
 * (measured: 0.12 s of every start-up, against 0.03 s through `require`).
 */
export * as tf from '@tensorflow/tfjs-core';
