import { initEngine, tf } from '@tide/backend';
const threads = Number(process.argv[2] ?? 2);
const t0 = performance.now();
const info = await initEngine({ backend: 'wasm', threads, gradients: false });
const init = performance.now() - t0;
const a = tf.randomNormal([1024, 1024], 0, 1, 'float32', 1);
const b = tf.randomNormal([1024, 1024], 0, 1, 'float32', 2);
const times = [];
let sum;
for (let r = 0; r < 6; r++) {
  const s = performance.now();
  const c = tf.matMul(a, b);
  const d = await c.data();
  sum = d.reduce((x, y) => x + y, 0);
  c.dispose();
  if (r > 0) times.push(performance.now() - s);
}
times.sort((x, y) => x - y);
console.log(JSON.stringify({ threads: info.threads, init: Math.round(init), median: times[2].toFixed(1), sum }));
