import { describe, expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { describeEachBackend, expectNoLeaks } from '@tide/backend/testing';
import { FIXTURE_NAMES, fixtureDir, fixtureIO, maxAbsDiff, parityTolerance } from '@tide/fixtures';
import { DiscretisationError } from './errors.js';
import { forward } from './forward.js';
import { loadCheckpoint } from './node.js';
import { plainLayerStack } from './plain-layer-stack.js';

describeEachBackend('parity with PyTorch (library API)', () => {
  it.each(FIXTURE_NAMES)('%s: the exact scheme equals the PyTorch output to 1e-4·max(1, max|ref|)', (name) => {
    const model = loadCheckpoint(fixtureDir(name));
    const io = fixtureIO(name);
    const result = forward(model, {
      ...(io.input && { input: io.input }),
      ...(io.inputIds && { inputIds: io.inputIds }),
      ...(io.tokenWeights && { tokenWeights: io.tokenWeights }),
    });
    expect(result.output.shape).toEqual(io.output.shape);
    const diff = maxAbsDiff(result.output, io.output);
    expect(diff, `${name}: max|Δ| = ${diff}`).toBeLessThanOrEqual(parityTolerance(io.output));
    tf.dispose(result.output);
    io.dispose();
    model.dispose();
  });

  it.each(FIXTURE_NAMES)(
    "%s: the recovery theorem — the paper's splitting scheme equals an independently written layer stack",
    (name) => {
      const model = loadCheckpoint(fixtureDir(name));
      const io = fixtureIO(name);
      const keep = io.tokenWeights ? tf.tensor2d(io.tokenWeights) : undefined;
      const plain = plainLayerStack(model, {
        ...(io.input && { input: io.input }),
        ...(io.inputIds && { inputIds: io.inputIds }),
        ...(keep && { keep }),
      });
      const split = forward(model, {
        ...(io.input && { input: io.input }),
        ...(io.inputIds && { inputIds: io.inputIds }),
        ...(io.tokenWeights && { tokenWeights: io.tokenWeights }),
      });
      const diff = maxAbsDiff(split.output, plain);
      expect(diff, `${name}: max|Δ| = ${diff}`).toBeLessThan(
        2e-5 *
          Math.max(
            1,
            tf.tidy(() => tf.max(tf.abs(plain)).dataSync()[0]!),
          ),
      );
      expect(maxAbsDiff(plain, io.output)).toBeLessThanOrEqual(parityTolerance(io.output));
      // The scheme really is the paper's: post-LN runs 8 sub-steps per layer (six of the theorem + two affine), pre-LN 2.
      expect(split.stats.subSteps).toBe(model.config.numLayers * (model.config.normFirst ? 2 : 8));
      tf.dispose([plain, split.output, ...(keep ? [keep] : [])]);
      io.dispose();
      model.dispose();
    },
  );

  it('leaves no tensors behind (load, forward with saved layers, dispose)', async () => {
    const io = fixtureIO('gpt2-tiny');
    await expectNoLeaks(() => {
      const model = loadCheckpoint(fixtureDir('gpt2-tiny'));
      const r = forward(model, { inputIds: io.inputIds! }, { scheme: 'rk4', stepsPerLayer: 2, saveLayers: true });
      expect(r.states).toHaveLength(3);
      model.dispose();
      return r;
    });
    io.dispose();
  });
});

describe('forward: bad input', () => {
  it('names the input problem', () => {
    const model = loadCheckpoint(fixtureDir('encoder-postln-relu'));
    const wrong = tf.zeros([1, 3, 5]) as tf.Tensor3D;
    expect(() => forward(model, { input: wrong })).toThrow(
      /input: expected float32 hidden states \[B ≥ 1, N ≥ 1, 16\], received a tensor of shape \[1, 3, 5\]/,
    );
    const nan = tf.fill([1, 2, 16], NaN) as tf.Tensor3D;
    expect(() => forward(model, { input: nan })).toThrow(/expected finite values, received NaN or ±Inf/);
    expect(() => forward(model, { input: tf.zeros([1, 2, 16]) as tf.Tensor3D }, { scheme: 'rk4' })).toThrow(
      /post-LN layers are projections/,
    );
    expect(() =>
      forward(model, { input: tf.zeros([1, 2, 16]) as tf.Tensor3D }, { scheme: 'exact', stepsPerLayer: 2 }),
    ).toThrow(DiscretisationError);
    const gpt = loadCheckpoint(fixtureDir('gpt2-tiny'));
    expect(() => forward(gpt, { inputIds: tf.tensor2d([[1, 99]], [1, 2], 'int32') })).toThrow(
      /token ids in 0…49, received 99 at index 1/,
    );
    expect(() => forward(gpt, { input: tf.zeros([1, 2, 16]) as tf.Tensor3D })).toThrow(
      /input_ids \[B, N\] for a language model/,
    );
    tf.dispose([wrong, nan]);
    model.dispose();
    gpt.dispose();
  });
});
