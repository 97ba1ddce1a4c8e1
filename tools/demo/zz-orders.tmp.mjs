import { readFileSync } from 'node:fs';
import { initEngine, tf } from '@tide/backend';
import { forward } from '@tide/transformer';
import { loadCheckpoint } from '@tide/transformer/node';
import { tokenizerFor } from '@tide/formats';
await initEngine({ backend: 'wasm', gradients: false });
const model = loadCheckpoint(process.argv[2]);
const tok = await tokenizerFor(model.config);
const text = readFileSync('/tmp/cont/heldout.txt', 'utf8').slice(5000, 5064);
const ids = tf.tensor2d([tok.encode(text)], undefined, 'int32');
const run = (scheme, k) => forward(model, { inputIds: ids }, { scheme, stepsPerLayer: k }).output;
const ref = run('rk4', 256);
for (const scheme of ['lie', 'strang', 'rk4']) {
  const ks = scheme === 'rk4' ? [1, 2, 4, 8, 16, 32] : [2, 4, 8, 16, 32, 64];
  const errs = ks.map((k) => { const o = run(scheme, k); const e = tf.tidy(() => tf.max(tf.abs(tf.sub(o, ref))).dataSync()[0]); o.dispose(); return e; });
  const orders = errs.slice(1).map((e, i) => Math.log2(errs[i] / e).toFixed(2));
  console.log(scheme, ks.map((k, i) => `k${k}:${errs[i].toExponential(2)}`).join(' '), 'pairwise orders', orders.join(' '));
}
