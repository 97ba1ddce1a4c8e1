// Refinement is real: on the pre-LN Transformer field u_t = A(P₁u) + F(P₂u) with a smooth θ(t) (a smooth blend
// of a real checkpoint's two layers), refining Δt converges with each scheme's classical order.
import { describe, expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { convergenceOrder, describeEachBackend } from '@tide/backend/testing';
import { field } from '@tide/domain';
import { scheduleFromFunction, solve } from '@tide/solvers';
import { fixtureDir, fixtureIO } from '@tide/fixtures';
import { interpolateLayers, schemeForLayers, type SchemeName } from './discretisation.js';
import { loadCheckpoint } from './node.js';

const T = 2;

describeEachBackend('measured orders on the pre-LN Transformer field with smooth θ(t)', () => {
  const cases: [SchemeName, number, number[]][] = [
    ['lie', 1, [1 / 2, 1 / 3, 1 / 4, 1 / 6, 1 / 8]],
    ['euler', 1, [1 / 2, 1 / 3, 1 / 4, 1 / 6, 1 / 8]],
    ['strang', 2, [1 / 2, 1 / 3, 1 / 4, 1 / 6, 1 / 8]],
    ['heun', 2, [1 / 2, 1 / 3, 1 / 4, 1 / 6, 1 / 8]],
    ['rk4', 4, [1, 2 / 3, 1 / 2, 2 / 5, 1 / 3]],
  ];

  it.each(cases)('%s converges with order %i (±0.2, log–log fit over five step sizes)', (name, order, dts) => {
    const model = loadCheckpoint(fixtureDir('encoder-preln-gelu'));
    const io = fixtureIO('encoder-preln-gelu');
    const [l0, l1] = model.parameters.layers;
    const blend = (t: number) => (1 - Math.cos((Math.PI * t) / T)) / 2; // smooth θ(t) from layer 0 to layer 1
    const theta = scheduleFromFunction([0, T], (t) => interpolateLayers(l0!, l1!, blend(t)));
    const run = (scheme: SchemeName, dt: number) => {
      const u0 = field(tf.clone(io.input!));
      const sol = solve(u0, schemeForLayers(theta, model.config, scheme).scheme, { t1: T, step: { dt } });
      u0.dispose();
      return sol.u;
    };
    const reference = run('rk4', 1 / 64);
    const errors = dts.map((dt) => {
      const u = run(name, dt);
      const e = tf.tidy(() => tf.max(tf.abs(tf.sub(u.values, reference.values))).dataSync()[0]!);
      u.dispose();
      return e;
    });
    const measured = convergenceOrder(dts, errors);
    console.log(
      `${name}: errors ${errors.map((e) => e.toExponential(2)).join(', ')} at Δt = ${dts.map((d) => d.toFixed(3)).join(', ')}; measured order ${measured.toFixed(2)}`,
    );
    expect(Math.abs(measured - order), `${name}: measured ${measured}`).toBeLessThan(0.2);
    reference.dispose();
    io.dispose();
    model.dispose();
  });
});

describe('refinement of the checkpoint itself (piecewise-constant θ aligned with the steps)', () => {
  it('GPT-2 logits converge as k grows: successive gaps shrink by ≈ 2^p (RK4 > 10, Strang > 3)', async () => {
    const { forward } = await import('./forward.js');
    const model = loadCheckpoint(fixtureDir('gpt2-tiny'));
    const io = fixtureIO('gpt2-tiny');
    const ratio = (scheme: SchemeName) => {
      const [a, b, c] = [8, 16, 32].map(
        (k) => forward(model, { inputIds: io.inputIds! }, { scheme, stepsPerLayer: k }).output,
      );
      const gap = (x: tf.Tensor, y: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(x, y))).dataSync()[0]!);
      const r = gap(a!, b!) / gap(b!, c!);
      tf.dispose([a!, b!, c!]);
      return r;
    };
    expect(ratio('rk4')).toBeGreaterThan(10); // → 16 for order 4
    expect(ratio('strang')).toBeGreaterThan(3); // → 4 for order 2
    expect(ratio('lie')).toBeGreaterThan(1.1); // → 2 for order 1
    io.dispose();
    model.dispose();
  });
});
