/**
 * Gradients of tfjs-core's kernels, registered from tfjs-core itself (its `register_all_gradients` module),
 * without the `@tensorflow/tfjs` union package and its layers, converter and data packages.
 *
 * tfjs-core ships that module only as per-file ESM whose imports omit the `.js` extension: bundlers (Vite,
 * webpack) resolve them, Node's ESM loader does not. In Node a resolve hook (`./node/resolve-hook.ts`) adds the
 * extension for imports inside tfjs-core's `dist/` first. The modules load as a second copy of tfjs-core's ESM
 * files, which is sound: tfjs keeps its engine and its kernel and gradient registries on the global object, and
 * its `Tensor` class recognises tensors of any copy.
 */
import { tf } from '#tfjs-core';
import { runtimeEnvironment } from './environment.js';

let registering: Promise<void> | undefined;

/** True when tfjs has a gradient for `MatMul` (the union package or an earlier call registered them). */
export function gradientsRegistered(): boolean {
  return tf.getGradient('BatchMatMul') !== undefined;
}

/** Registers the gradients of every tfjs-core kernel (once; later calls return the same promise). */
export function registerGradients(): Promise<void> {
  if (gradientsRegistered()) return Promise.resolve();
  registering ??= (async () => {
    if (runtimeEnvironment() === 'node') {
      const { installTfjsResolveHook } = await import('./node/resolve-hook.js');
      installTfjsResolveHook();
    }
    await import('@tensorflow/tfjs-core/dist/register_all_gradients.js');
  })();
  return registering;
}
