// The budget refuses a hostile or mistaken input from its shapes alone, before anything is allocated.
import { describe, expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { expectNoLeaks } from '@tide/backend/testing';
import { fixtureDir } from '@tide/fixtures';
import { BudgetError, DEFAULT_MAX_BYTES, checkForwardBudget, estimateForward } from './budget.js';
import { forward } from './forward.js';
import { loadCheckpoint } from './node.js';

describe('forward budget', () => {
  it('estimates grow with the batch, the tokens (quadratically on the plain path) and the steps', () => {
    const model = loadCheckpoint(fixtureDir('gpt2-tiny'));
    const base = estimateForward(model, { batch: 1, tokens: 16 });
    const batch = estimateForward(model, { batch: 8, tokens: 16 });
    const steps = estimateForward(model, { batch: 1, tokens: 16 }, { scheme: 'rk4', stepsPerLayer: 4 });
    expect(batch.bytes).toBeCloseTo(8 * base.bytes, -2);
    expect(batch.flops).toBeCloseTo(8 * base.flops, -2);
    expect(steps.steps).toBe(4 * base.steps);
    expect(steps.flops).toBeGreaterThan(4 * 4 * base.flops * 0.9);
    expect(estimateForward(model, { batch: 1, tokens: 32 }).flops).toBeGreaterThan(2 * base.flops);
    model.dispose();
  });

  it('refuses input_ids [100000, 64] and an 8192-step solve before allocating, naming what to raise', async () => {
    const model = loadCheckpoint(fixtureDir('gpt2-tiny'));
    await expectNoLeaks(() => {
      const huge = tf.zeros([100_000, 32], 'int32') as tf.Tensor2D;
      expect(() => forward(model, { inputIds: huge })).toThrow(
        /forward: memory budget: expected at most 2\.00 GiB of tensors, received an input that needs about [\d.]+ GiB.*--max-memory/,
      );
      huge.dispose();
      const ids = tf.tensor2d([[1, 2, 3]], [1, 3], 'int32');
      expect(() =>
        forward(model, { inputIds: ids }, { scheme: 'lie', stepsPerLayer: 8, budget: { maxFlops: 1e5 } }),
      ).toThrow(/forward: work budget: .*--max-work/);
      const ok = forward(model, { inputIds: ids }, { budget: { maxBytes: Infinity, maxFlops: Infinity } });
      ok.output.dispose();
      ids.dispose();
    });
    model.dispose();
  });

  it('refuses bad budgets and bad shapes with typed errors', () => {
    const model = loadCheckpoint(fixtureDir('encoder-postln-relu'));
    const e = estimateForward(model, { batch: 1, tokens: 4 });
    expect(() => checkForwardBudget(e, { maxBytes: -1 })).toThrow(BudgetError);
    expect(() => checkForwardBudget(e, { maxFlops: Number.NaN })).toThrow(/budget: maxFlops: expected a number > 0/);
    expect(() => estimateForward(model, { batch: 0, tokens: 4 })).toThrow(
      /estimateForward: batch: expected a positive integer/,
    );
    expect(() => checkForwardBudget({ ...e, bytes: DEFAULT_MAX_BYTES + 1 })).toThrow(BudgetError);
    expect(() => checkForwardBudget(e)).not.toThrow();
    model.dispose();
  });
});
