// forward({ lastTokenOnly }): the readout of the last token only — the full output's last row.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { describeEachBackend, expectClose, expectNoLeaks, thrownBy } from '@tide/backend/testing';
import { KeyValueCache } from '@tide/attention';
import { fixtureDir } from '@tide/fixtures';
import { CheckpointError } from '@tide/formats';
import { parseConfig } from './checkpoint.js';
import { recommendedDiscretisation } from './discretisation.js';
import { DiscretisationError, InputError } from './errors.js';
import { forward } from './forward.js';
import { loadCheckpoint } from './node.js';

describeEachBackend('forward: lastTokenOnly', () => {
  it('equals the last row of the full output (GPT-2 logits, encoder states), batch 2, leaking nothing', async () => {
    for (const name of ['gpt2-tiny', 'encoder-preln-gelu']) {
      const model = loadCheckpoint(fixtureDir(name));
      const input =
        model.config.layout === 'gpt2'
          ? {
              inputIds: tf.tensor2d(
                [
                  [1, 4, 9, 16, 25, 36, 49],
                  [2, 3, 5, 7, 11, 13, 17],
                ],
                [2, 7],
                'int32',
              ),
            }
          : { input: tf.randomNormal([2, 7, model.config.dModel], 0, 1, 'float32', 3) as tf.Tensor3D };
      for (const options of [{ scheme: 'exact' }, { scheme: 'rk4', stepsPerLayer: 2 }] as const) {
        const full = forward(model, input, options).output; // [2, 7, ·]
        await expectNoLeaks(() => {
          const last = forward(model, input, { ...options, lastTokenOnly: true }).output; // [2, 1, ·]
          expect(last.shape).toEqual([2, 1, full.shape[2]]);
          const want = tf.slice(full, [0, 6, 0], [2, 1, -1]);
          expectClose(last, want, { rtol: 1e-6, atol: 1e-6 });
          tf.dispose([last, want]);
        }, `${name} ${options.scheme}`);
        full.dispose();
      }
      tf.dispose([input.inputIds, input.input].filter((t) => t !== undefined));
      model.dispose();
    }
  });
});

describe('forward: lastTokenOnly, what is refused', () => {
  it('a non-boolean, or a resampled token grid; with a key/value cache it reads the new last token', () => {
    const model = loadCheckpoint(fixtureDir('gpt2-tiny'));
    const ids = tf.tensor2d([[1, 2, 3, 4]], [1, 4], 'int32');
    expect(thrownBy(() => forward(model, { inputIds: ids }, { lastTokenOnly: 'yes' as never }))).toBeInstanceOf(
      InputError,
    );
    const e = thrownBy(() => forward(model, { inputIds: ids }, { lastTokenOnly: true, tokenGrid: { resample: 8 } }));
    expect(e).toBeInstanceOf(DiscretisationError);
    const cache = new KeyValueCache();
    const first = forward(model, { inputIds: ids }, { cache, lastTokenOnly: true }).output;
    expect(first.shape).toEqual([1, 1, model.config.vocabSize]);
    expect(cache.tokens).toBe(4);
    tf.dispose([first, ids]);
    cache.dispose();
    model.dispose();
  });
});

describe('regressions from review', () => {
  it('lastTokenOnly with padding weights is refused (the last row would be a padding position)', () => {
    const model = loadCheckpoint(fixtureDir('encoder-preln-gelu'));
    const x = tf.zeros([1, 3, model.config.dModel]) as tf.Tensor3D;
    const e = thrownBy(() => forward(model, { input: x, tokenWeights: [[1, 1, 0]] }, { lastTokenOnly: true }));
    expect(e).toBeInstanceOf(InputError);
    expect((e as Error).message).toMatch(/expected an input without tokenWeights/);
    x.dispose();
    model.dispose();
  });

  it('a recorded scheme the model cannot run is a CheckpointError when the config is read', () => {
    const raw = JSON.parse(readFileSync(join(fixtureDir('gpt2-tiny'), 'config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ ...raw, tide: { scheme: 'exact', stepsPerLayer: 4 } }, /exact with 4 steps per layer/],
      [{ ...raw, tide: { scheme: 'rk4', norm_first: false } }, /rk4 for a post-LN model/],
      [
        { ...raw, tide: { scheme: 'exact' }, tide_controls: { basis: 'legendre', coefficients: 2 } },
        /exact for smooth controls/,
      ],
      [{ ...raw, tide: { scheme: 'midpoint' } }, /"tide": "scheme".*expected one of/],
    ];
    for (const [config, message] of cases) {
      const e = thrownBy(() => parseConfig(config));
      expect(e, JSON.stringify(config['tide'])).toBeInstanceOf(CheckpointError);
      expect((e as Error).message).toMatch(message);
    }
    expect(thrownBy(() => recommendedDiscretisation({} as never))).toBeInstanceOf(DiscretisationError);
    const tiny = loadCheckpoint(fixtureDir('gpt2-tiny'));
    expect(recommendedDiscretisation(tiny)).toEqual({ scheme: 'exact', stepsPerLayer: 1 }); // no "tide": the network
    tiny.dispose();
    expect(parseConfig({ ...raw, tide: { scheme: 'rk4', stepsPerLayer: 2 } }).recommended).toEqual({
      scheme: 'rk4',
      stepsPerLayer: 2,
    });
  });
});
