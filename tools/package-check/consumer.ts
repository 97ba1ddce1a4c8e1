// A user's first program: it installs @tide/domain alone and uses it. Compiled with tsc (nodenext)
// against the packed tarballs, then run with node. Any failure exits non-zero.
import {
  field,
  gaussLegendreRule,
  initEngine,
  integrate,
  interval,
  midpointRule,
  resampleTokens,
  tf,
  DomainError,
  type Grid,
} from '@tide/domain';

const engine = await initEngine();
const gl: Grid = gaussLegendreRule(interval(0, 1), 5);
const exact = 1 / 10;
const approx = integrate(gl, (x) => x ** 9);
if (Math.abs(approx - exact) > 1e-14) throw new Error(`Gauss–Legendre(5) ∫x⁹: expected ${exact}, got ${approx}`);

const src = midpointRule(interval(0, 1), 64);
const values = tf.tensor3d(
  Array.from(src.points, (x) => Math.sin(3 * x)),
  [1, 64, 1],
);
const u = field(values, { tokenGrid: src, featureGrid: midpointRule(interval(0, 1), 1) });
const v = resampleTokens(u, gl);
const got = Array.from(await v.values.data());
const worst = Math.max(...got.map((y, i) => Math.abs(y - Math.sin(3 * gl.points[i]!))));
if (!(worst < 1e-3)) throw new Error(`resampleTokens: error ${worst} ≥ 1e-3`);
u.dispose();
v.dispose();

let refused = false;
try {
  interval(1, 0);
} catch (e) {
  refused = e instanceof DomainError;
}
if (!refused) throw new Error('interval(1, 0) should throw a DomainError');
console.log(
  `consumer OK on ${engine.backend}: ∫x⁹ = ${approx.toFixed(15)}, resampling error ${worst.toExponential(2)}, tensors left ${tf.memory().numTensors}`,
);
