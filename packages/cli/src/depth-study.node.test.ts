// Anytime depth: depth tables against a model's own fine reference, held-out loss against evaluations.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as vega from 'vega';
import { compile } from 'vega-lite';
import { tf } from '@tide/backend';
import { expectNoLeaks, thrownBy } from '@tide/backend/testing';
import { fixtureDir } from '@tide/fixtures';
import { InputError } from '@tide/transformer';
import { loadCheckpoint } from '@tide/transformer/node';
import { anytimeChart } from './charts.js';
import { anytimeDepth, depthTable, depthTableLines, heldOutLoss } from './depth-study.js';
import { maxAbsDifference, meanKl } from './divergence.js';

const DEFAULT_MODEL = fileURLToPath(new URL('../models/default', import.meta.url));
// @tide/train is loaded lazily by the CLI (nx forbids mixing static and dynamic imports of it in one project).
const { characterCorpus } = await import('@tide/train');
// Held-out ids: the validation split of the training corpus (folded onto the model's alphabet as in training).
const HELD_OUT = Array.from(
  characterCorpus(
    readFileSync(fileURLToPath(new URL('../../../data/moby-dick.txt', import.meta.url)), 'utf8'),
  ).validation.slice(0, 4000),
);

describe('anytime depth', () => {
  it('the depth table: KL ≥ 0, and refining RK4 moves the logits less; the lines name every row', async () => {
    const model = loadCheckpoint(DEFAULT_MODEL);
    const ids = HELD_OUT.slice(0, 48);
    await expectNoLeaks(() => {
      const rows = depthTable(model, 'default', ids);
      expect(rows.map((r) => r.label)).toHaveLength(6);
      for (const r of rows) expect(r.kl).toBeGreaterThanOrEqual(-1e-6);
      const rk4 = rows.filter((r) => r.label.startsWith('RK4'));
      expect(rk4[1]!.maxAbs).toBeLessThan(rk4[0]!.maxAbs);
      expect(rk4[1]!.evaluations).toBe(4 * rk4[0]!.evaluations);
      expect(depthTableLines(rows)).toHaveLength(7);
    }, 'depthTable');
    model.dispose();
  });

  it('held-out loss: the exact scheme gives the model card’s loss scale; the anytime curve costs more as it refines', async () => {
    const model = loadCheckpoint(DEFAULT_MODEL);
    const ids = HELD_OUT;
    await expectNoLeaks(() => {
      const exact = heldOutLoss(model, ids, { scheme: 'exact' });
      expect(exact.loss).toBeGreaterThan(1.2);
      expect(exact.loss).toBeLessThan(3); // validation 2.025 nats/char on the model card
      const points = anytimeDepth(model, ids, { tolerances: [1e-1, 1e-3], fixedSteps: [1, 2], windows: 2 });
      expect(points).toHaveLength(4);
      expect(points[1]!.evaluations).toBe(2 * points[0]!.evaluations);
      expect(points[3]!.evaluations).toBeGreaterThan(points[2]!.evaluations);
      for (const p of points) expect(Number.isFinite(p.loss)).toBe(true);
    }, 'anytimeDepth');
    model.dispose();
  });

  it('the anytime chart renders a line per method and the discrete rule', async () => {
    const spec = anytimeChart(
      [
        { method: 'RK4, fixed steps', setting: '1 step(s)/unit', loss: 2.1, evaluations: 16 },
        { method: 'RK4, fixed steps', setting: '2 step(s)/unit', loss: 2.05, evaluations: 32 },
        { method: 'Dormand–Prince 5(4), adaptive', setting: 'rtol 0.01', loss: 2.06, evaluations: 30 },
        { method: 'Dormand–Prince 5(4), adaptive', setting: 'rtol 0.001', loss: 2.04, evaluations: 60 },
      ],
      2.03,
    );
    const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
    const svg = await view.toSVG();
    view.finalize();
    expect(svg.match(/class="mark-line role-mark/g)?.length).toBeGreaterThanOrEqual(1);
    expect(svg).toMatch(/mark-rule/);
    expect(svg).not.toMatch(/NaN/);
  });

  it('refuses an encoder and bad ids with typed errors', () => {
    const encoder = loadCheckpoint(fixtureDir('encoder-preln-gelu'));
    expect(thrownBy(() => depthTable(encoder, 'e', [1, 2, 3]))).toBeInstanceOf(InputError);
    encoder.dispose();
    const model = loadCheckpoint(DEFAULT_MODEL);
    expect(() => heldOutLoss(model, [1], { scheme: 'exact' })).toThrow(/at least two token ids/);
    expect(() => depthTable(model, 'd', [1, 2, 500])).toThrow(InputError);
    model.dispose();
  });

  it('the divergences: zero for equal outputs, positive and symmetric-in-max for different ones', async () => {
    const a = tf.tensor3d([
      [
        [1, 2, 3],
        [0, 0, 0],
      ],
    ]);
    const b = tf.tensor3d([
      [
        [1, 2, 4],
        [0, 1, 0],
      ],
    ]);
    await expectNoLeaks(() => {
      expect(maxAbsDifference(a, a)).toBe(0);
      expect(meanKl(a, a)).toBeCloseTo(0, 7);
      expect(maxAbsDifference(a, b)).toBe(1);
      expect(maxAbsDifference(b, a)).toBe(1);
      // KL(p ‖ q) ≥ 0, by hand for the second position: p uniform, q = softmax(0, 1, 0).
      const q = [1, Math.E, 1].map((v) => v / (2 + Math.E));
      const second = [1, 1, 1].reduce((s, _, i) => s + (1 / 3) * Math.log(1 / 3 / q[i]!), 0);
      expect(meanKl(a, b)).toBeGreaterThan(second / 2);
    }, 'divergences');
    tf.dispose([a, b]);
  });
});
