/**
 * A Node module resolve hook for tfjs-core's per-file ESM (`dist/**.js`), whose relative imports omit the `.js`
 * extension: when such an import is not found, it is retried with `.js`. Only imports made from inside
 * `@tensorflow/tfjs-core/dist/` are touched. See `../gradients.ts`.
 */
import { register } from 'node:module';

const HOOK = `
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (error) {
    const inTfjsCore = typeof context.parentURL === 'string' && context.parentURL.includes('/@tensorflow/tfjs-core/dist/');
    const missing = error && (error.code === 'ERR_MODULE_NOT_FOUND' || error.code === 'ERR_UNSUPPORTED_DIR_IMPORT');
    if (inTfjsCore && missing && specifier.startsWith('.') && !specifier.endsWith('.js')) return next(specifier + '.js', context);
    throw error;
  }
}`;

let installed = false;

/** Installs the hook once per process (Node ≥ 20.6: `module.register`). */
export function installTfjsResolveHook(): void {
  if (installed) return;
  register(`data:text/javascript,${encodeURIComponent(HOOK)}`);
  installed = true;
}
