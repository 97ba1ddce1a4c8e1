// Adaptive depth: the embedded Runge–Kutta pairs on a model's layers, to a tolerance (docs/continuous-depth.md,
// "Adaptive step-size control").
import { describe, expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { describeEachBackend, expectNoLeaks, thrownBy } from '@tide/backend/testing';
import { KeyValueCache } from '@tide/attention';
import { fixtureDir } from '@tide/fixtures';
import { DiscretisationError } from './errors.js';
import { forward } from './forward.js';
import { generate } from './generate.js';
import { loadCheckpoint } from './node.js';

const ids = (n: number, vocab: number) => Array.from({ length: n }, (_, i) => (3 + i * 7) % vocab);

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

describeEachBackend('adaptive solves of a model (dopri5, bosh3)', () => {
  it('meet tighter tolerances with more evaluations; fixed-step pairs converge to the RK4 reference', () => {
    const model = loadCheckpoint(fixtureDir('gpt2-tiny'));
    const input = { inputIds: tf.tensor2d([ids(12, model.config.vocabSize!)], [1, 12], 'int32') };
    const reference = forward(model, input, { scheme: 'rk4', stepsPerLayer: 64 }).output;
    const rows: { rtol: number; error: number; evaluations: number }[] = [];
    for (const rtol of [1e-2, 1e-3, 1e-4]) {
      const r = forward(model, input, { scheme: 'dopri5', tolerance: { rtol } });
      expect(r.stats.adaptive?.accepted).toBeGreaterThan(0);
      expect(r.description).toMatch(/dopri5, adaptive steps \(rtol/);
      rows.push({ rtol, error: maxAbsDiff(r.output, reference), evaluations: r.stats.fieldEvaluations });
      r.output.dispose();
    }
    for (let i = 1; i < rows.length; i++) {
      expect(rows[i]!.evaluations, JSON.stringify(rows)).toBeGreaterThanOrEqual(rows[i - 1]!.evaluations);
      expect(rows[i]!.error, JSON.stringify(rows)).toBeLessThan(rows[i - 1]!.error);
    }
    expect(rows.at(-1)!.error).toBeLessThan(1e-2);
    // Fixed steps (16 per layer; measured on wasm: dopri5 4e-5, bosh3 3e-3 against max |logits| 2.8).
    for (const [scheme, bound] of [
      ['dopri5', 1e-3],
      ['bosh3', 1e-2],
    ] as const) {
      const fixed = forward(model, input, { scheme, stepsPerLayer: 16 }).output;
      expect(maxAbsDiff(fixed, reference), scheme).toBeLessThan(bound);
      fixed.dispose();
    }
    tf.dispose([reference, input.inputIds]);
    model.dispose();
  });

  it('saves the layer boundaries and leaks nothing', async () => {
    const model = loadCheckpoint(fixtureDir('gpt2-tiny'));
    const input = { inputIds: tf.tensor2d([ids(8, model.config.vocabSize!)], [1, 8], 'int32') };
    await expectNoLeaks(() => {
      const r = forward(model, input, { scheme: 'bosh3', tolerance: { rtol: 1e-3 }, saveLayers: true });
      expect(r.states).toHaveLength(model.config.numLayers + 1);
      tf.dispose([r.output, ...r.states.map((s) => s.values)]);
    }, 'adaptive forward');
    input.inputIds.dispose();
    model.dispose();
  });
});

describe('adaptive solves: what is refused', () => {
  it('a tolerance without an adaptive scheme, bad tolerances, saved steps, a key/value cache', () => {
    const model = loadCheckpoint(fixtureDir('gpt2-tiny'));
    const input = { inputIds: tf.tensor2d([ids(6, model.config.vocabSize!)], [1, 6], 'int32') };
    const cases: [object, RegExp][] = [
      [{ scheme: 'rk4', tolerance: { rtol: 1e-3 } }, /expected an adaptive scheme \(dopri5, bosh3\)/],
      [{ scheme: 'dopri5', tolerance: { rtol: 0 } }, /tolerance: rtol.*expected a number in \(0, 1\)/],
      [{ scheme: 'dopri5', tolerance: { rtol: 1e-3, atol: Number.NaN } }, /tolerance: atol/],
      [{ scheme: 'dopri5', tolerance: 'tight' }, /tolerance: rtol/],
      [{ scheme: 'dopri5', stepsPerLayer: 4, tolerance: { rtol: 1e-3 } }, /the step chosen by the controller/],
      [{ scheme: 'dopri5', tolerance: { rtol: 1e-3 }, saveSteps: true }, /saveLayers or no saved states/],
    ];
    for (const [options, message] of cases) {
      const e = thrownBy(() => forward(model, input, options as never));
      expect(e, JSON.stringify(options)).toBeInstanceOf(DiscretisationError);
      expect((e as Error).message).toMatch(message);
    }
    const cache = new KeyValueCache();
    expect(() => forward(model, input, { scheme: 'dopri5', cache })).toThrow(/embedded pairs reuse stages/);
    cache.dispose();
    // generate falls back to re-solving the window: the same tokens with the cache on or off.
    const prompt = ids(4, model.config.vocabSize!);
    const options = { scheme: 'dopri5', tolerance: { rtol: 1e-3 }, maxNewTokens: 3 } as const;
    expect(generate(model, prompt, options)).toEqual(generate(model, prompt, { ...options, cache: false }));
    input.inputIds.dispose();
    model.dispose();
  });
});
