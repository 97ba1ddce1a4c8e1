// Discretisations (paper §4.1; docs/splitting-and-recovery.md, docs/continuous-depth.md): options checked once at
// the boundary (errors name the CLI flag), Strang and Runge–Kutta refused for post-LN layers, only the
// operators of the model's form built (pre-LN: none that own tensors; post-LN: two FFN increments per layer),
// θ(t) interpolated between layers, and nothing leaked.
import { describe, expect, it } from 'vitest';
import { seededRandom, tf, TreeError, treeLeaves } from '@tide/backend';
import { expectClose, expectNoLeaks, expectTensorCount, thrownBy } from '@tide/backend/testing';
import { field } from '@tide/domain';
import { linearInterpolation } from '@tide/solvers';
import { fixtureDir, fixtureIO } from '@tide/fixtures';
import {
  checkDiscretisationOptions,
  discretise,
  interpolateLayers,
  schemeForLayers,
  SCHEME_NAMES,
  type DiscretisationOptions,
  type SchemeName,
} from './discretisation.js';
import { DiscretisationError } from './errors.js';
import { forward } from './forward.js';
import type { LayerParameters, TransformerModel } from './model.js';
import { loadCheckpoint } from './node.js';

const load = (name: string): TransformerModel => loadCheckpoint(fixtureDir(name));

describe('checkDiscretisationOptions', () => {
  it('fills the defaults: Lie splitting, one step per layer, piecewise-constant θ', () => {
    expect(checkDiscretisationOptions({})).toEqual({ scheme: 'lie', stepsPerLayer: 1, schedule: 'piecewise' });
    expect(checkDiscretisationOptions({ scheme: 'exact' })).toEqual({
      scheme: 'exact',
      stepsPerLayer: 1,
      schedule: 'piecewise',
    });
    expect(checkDiscretisationOptions({ scheme: 'rk4', stepsPerLayer: 4096, schedule: 'linear' })).toEqual({
      scheme: 'rk4',
      stepsPerLayer: 4096,
      schedule: 'linear',
    });
    for (const scheme of SCHEME_NAMES) expect(checkDiscretisationOptions({ scheme }).scheme).toBe(scheme);
  });

  const refused: [string, unknown, RegExp][] = [
    [
      'an unknown scheme',
      { scheme: 'midpoint' },
      /^scheme: expected one of exact, lie, strang, euler, heun, rk4, dopri5, bosh3, received "midpoint"\. Fix: pass --scheme exact\|lie\|strang\|euler\|heun\|rk4\|dopri5\|bosh3$/,
    ],
    ['a scheme that is not a string', { scheme: 3 }, /^scheme: expected one of .*, received 3\. Fix: pass --scheme /],
    [
      'k = 0',
      { stepsPerLayer: 0 },
      /^steps per layer: expected an integer from 1 to 4096, received 0\. Fix: pass --steps-per-layer 1, 2, 4, …$/,
    ],
    [
      'k = 1.5',
      { stepsPerLayer: 1.5 },
      /^steps per layer: expected an integer from 1 to 4096, received 1\.5\. Fix: pass --steps-per-layer/,
    ],
    [
      'k = 5000',
      { stepsPerLayer: 5000 },
      /^steps per layer: expected an integer from 1 to 4096, received 5000\. Fix: pass --steps-per-layer/,
    ],
    ['k = -1', { stepsPerLayer: -1 }, /received -1\. Fix: pass --steps-per-layer/],
    ['k = NaN', { stepsPerLayer: NaN }, /received NaN\. Fix: pass --steps-per-layer/],
    ['k given as a string', { stepsPerLayer: '2' }, /received "2"\. Fix: pass --steps-per-layer/],
    [
      'exact with k = 2',
      { scheme: 'exact', stepsPerLayer: 2 },
      /^scheme exact: expected one step per layer, received 2 steps per layer\. Fix: use --scheme lie for Lie splitting with k steps per layer$/,
    ],
    [
      'an unknown schedule',
      { schedule: 'cubic' },
      /^schedule: expected 'piecewise' or 'linear', received "cubic"\. Fix: pass --schedule piecewise\|linear$/,
    ],
    [
      'null options',
      null,
      /^discretisation options: expected an object \{ scheme\?, stepsPerLayer\?, schedule\? \}, received null\. Fix: pass \{\} for the defaults$/,
    ],
    ['a string for options', 'lie', /^discretisation options: expected an object/],
  ];

  it.each(refused)('refuses %s with a DiscretisationError naming the flag', (_, options, message) => {
    const e = thrownBy(() => checkDiscretisationOptions(options as DiscretisationOptions));
    expect(e).toBeInstanceOf(DiscretisationError);
    expect(e.message).toMatch(message);
  });
});

describe('schemeForLayers', () => {
  it('refuses Strang and Runge–Kutta for a post-LN model, building nothing', () => {
    const model = load('encoder-postln-relu');
    for (const name of ['strang', 'euler', 'heun', 'rk4'] as const) {
      const before = tf.memory().numTensors;
      const e = thrownBy(() => schemeForLayers(model.parameters.layers, model.config, name));
      expect(e, name).toBeInstanceOf(DiscretisationError);
      expect(e.message).toMatch(
        new RegExp(
          `^scheme ${name}: expected exact or lie for a post-LN model, received '${name}'\\. Fix: .*pre-LN models`,
        ),
      );
      expect(tf.memory().numTensors).toBe(before);
      expect(() => discretise(model, { scheme: name })).toThrow(DiscretisationError);
    }
    model.dispose();
  });

  it('builds no tensors for pre-LN models, whatever the scheme', () => {
    for (const name of ['encoder-preln-gelu', 'gpt2-tiny']) {
      const model = load(name);
      expect(model.config.normFirst).toBe(true);
      for (const scheme of SCHEME_NAMES) {
        const before = tf.memory().numTensors;
        const built = schemeForLayers(model.parameters.layers, model.config, scheme);
        expect(tf.memory().numTensors, `${name} ${scheme}`).toBe(before);
        expect(built.scheme).toBeDefined();
        built.dispose();
        expect(tf.memory().numTensors, `${name} ${scheme} after dispose`).toBe(before);
      }
      model.dispose();
    }
  });

  it('builds two FFN increments per post-LN layer, and frees them on dispose; the layers stay', () => {
    for (const name of ['encoder-postln-relu', 'encoder-postln-1head']) {
      const model = load(name);
      const layers = model.parameters.layers.length;
      for (const scheme of ['exact', 'lie'] as const) {
        const before = tf.memory().numTensors;
        const built = schemeForLayers(model.parameters.layers, model.config, scheme);
        expect(tf.memory().numTensors - before, `${name} ${scheme}`).toBe(2 * layers);
        built.dispose();
        expect(tf.memory().numTensors, `${name} ${scheme} after dispose`).toBe(before);
      }
      expect(treeLeaves(model.parameters).every(([, t]) => !t.isDisposed)).toBe(true);
      model.dispose();
    }
  });

  it('over an interpolated θ(t) builds nothing up front (operators are made per evaluation time)', () => {
    for (const name of ['encoder-postln-relu', 'encoder-preln-gelu']) {
      const model = load(name);
      const theta = linearInterpolation(model.parameters.layers, interpolateLayers);
      const before = tf.memory().numTensors;
      const built = schemeForLayers(theta, model.config, 'lie');
      expect(tf.memory().numTensors, name).toBe(before);
      built.dispose();
      expect(tf.memory().numTensors, name).toBe(before);
      model.dispose();
    }
  });
});

describe('interpolateLayers', () => {
  const values = (layer: LayerParameters) => treeLeaves(layer).map(([p, t]) => [p, Array.from(t.dataSync())] as const);

  it('at s = 0 equals a (as new tensors), at s = 1 equals b, at s = ½ is the mean', async () => {
    const model = load('encoder-preln-gelu');
    const [a, b] = model.parameters.layers as [LayerParameters, LayerParameters];
    const leaves = treeLeaves(a).length;
    expect(leaves).toBe(16);
    const at0 = await expectTensorCount(() => interpolateLayers(a, b, 0), leaves, 's = 0');
    const at1 = await expectTensorCount(() => interpolateLayers(a, b, 1), leaves, 's = 1');
    const half = await expectTensorCount(() => interpolateLayers(a, b, 0.5), leaves, 's = ½');
    expect(values(at0)).toEqual(values(a));
    expect(values(at1)).toEqual(values(b));
    treeLeaves(at0).forEach(([p, t]) => expect(t, p).not.toBe(treeLeaves(a).find(([q]) => q === p)![1]));
    const bLeaves = new Map(treeLeaves(b));
    for (const [path, t] of treeLeaves(half)) {
      const mean = tf.tidy(() => tf.div(tf.add(treeLeaves(a).find(([q]) => q === path)![1], bLeaves.get(path)!), 2));
      expectClose(t, mean, { atol: 1e-7, rtol: 1e-6 }, path);
      mean.dispose();
    }
    // The inputs are untouched and stay alive.
    expect([...treeLeaves(a), ...treeLeaves(b)].every(([, t]) => !t.isDisposed)).toBe(true);
    for (const layer of [at0, at1, half]) tf.dispose(treeLeaves(layer).map(([, t]) => t));
    model.dispose();
  });

  it('is affine in s: at s = ¼ it is ¾·a + ¼·b', () => {
    const model = load('gpt2-tiny');
    const [a, b] = model.parameters.layers as [LayerParameters, LayerParameters];
    const quarter = interpolateLayers(a, b, 0.25);
    const aLeaves = new Map(treeLeaves(a));
    const bLeaves = new Map(treeLeaves(b));
    for (const [path, t] of treeLeaves(quarter)) {
      const x = aLeaves.get(path)!.dataSync();
      const y = bLeaves.get(path)!.dataSync();
      expectClose(
        t,
        Array.from(x, (v, i) => 0.75 * v + 0.25 * y[i]!),
        { atol: 1e-6, rtol: 1e-6 },
        path,
      );
    }
    tf.dispose(treeLeaves(quarter).map(([, t]) => t));
    model.dispose();
  });

  it('refuses layers of different shapes with a TreeError naming the first differing path', () => {
    const relu = load('encoder-postln-relu'); // d_ff 24
    const gelu = load('encoder-preln-gelu'); // d_ff 32
    const e = thrownBy(() => interpolateLayers(relu.parameters.layers[0]!, gelu.parameters.layers[0]!, 0.5));
    expect(e).toBeInstanceOf(TreeError);
    expect(e.message).toMatch(
      /^zipTrees at "feedforward\.w1": expected a tensor of shape \[16, 24\], received a tensor of shape \[16, 32\]/,
    );
    relu.dispose();
    gelu.dispose();
  });
});

describe('discretise', () => {
  const valid: [string, DiscretisationOptions][] = [
    ['encoder-postln-relu', {}],
    ['encoder-postln-relu', { scheme: 'exact' }],
    ['encoder-postln-relu', { scheme: 'lie', stepsPerLayer: 3, schedule: 'linear' }],
    ...(['exact', 'lie', 'strang', 'euler', 'heun', 'rk4'] as SchemeName[]).map(
      (scheme): [string, DiscretisationOptions] => ['encoder-preln-gelu', { scheme }],
    ),
    ['gpt2-tiny', { scheme: 'strang', stepsPerLayer: 2, schedule: 'linear' }],
  ];

  it.each(valid)('%s %o: discretise then dispose leaves no tensors', async (name, options) => {
    const model = load(name);
    let description = '';
    await expectNoLeaks(() => {
      const disc = discretise(model, options);
      expect(disc.t1).toBe(model.parameters.layers.length);
      expect(disc.stepsPerLayer).toBe(options.stepsPerLayer ?? 1);
      description = disc.description;
      disc.dispose();
    }, `discretise ${name}`);
    const { scheme, stepsPerLayer, schedule } = checkDiscretisationOptions(options);
    expect(description).toBe(
      `${model.config.normFirst ? 'pre-LN' : 'post-LN'} ${scheme}, ${stepsPerLayer} step(s) per layer, θ(t) ${schedule}`,
    );
    model.dispose();
  });

  it('refuses bad options before building anything', async () => {
    const model = load('encoder-postln-relu');
    await expectNoLeaks(() => {
      expect(() => discretise(model, { stepsPerLayer: 0 })).toThrow(DiscretisationError);
      expect(() => discretise(model, { scheme: 'exact', stepsPerLayer: 2 })).toThrow(DiscretisationError);
      expect(() => discretise(model, { scheme: 'heun' })).toThrow(DiscretisationError);
      expect(() => discretise(model, { schedule: 'cubic' as 'linear' })).toThrow(DiscretisationError);
    });
    model.dispose();
  });

  it('its readout after a solve is the model output, and a full forward run with an interpolated θ(t) leaks nothing', async () => {
    const model = load('encoder-preln-gelu');
    const io = fixtureIO('encoder-preln-gelu');
    await expectNoLeaks(
      () => forward(model, { input: io.input! }, { scheme: 'heun', stepsPerLayer: 2, schedule: 'linear' }).output,
      'forward, heun, linear θ(t)',
    );
    const post = load('encoder-postln-relu');
    const postIo = fixtureIO('encoder-postln-relu');
    await expectNoLeaks(
      () => forward(post, { input: postIo.input! }, { scheme: 'lie', stepsPerLayer: 2, schedule: 'linear' }).output,
      'forward, post-LN lie, linear θ(t)',
    );
    // The exact scheme reproduces PyTorch (docs/checkpoints.md, Parity).
    const exact = forward(model, { input: io.input! }, { scheme: 'exact' }).output;
    const scale = Math.max(
      1,
      tf.tidy(() => tf.max(tf.abs(io.output)).dataSync()[0]!),
    );
    expectClose(exact, io.output, { atol: 1e-4 * scale, rtol: 0 }, 'exact vs PyTorch');
    exact.dispose();
    io.dispose();
    postIo.dispose();
    model.dispose();
    post.dispose();
  });

  it('the readout of a discretisation is modelReadout at t1 = L: a copy of u for an encoder without final norm', () => {
    const model = load('encoder-postln-relu');
    const disc = discretise(model);
    const next = seededRandom(11);
    const u = field(
      tf.tensor3d(
        Float32Array.from({ length: 2 * 16 }, () => next()),
        [1, 2, 16],
      ),
    );
    const out = disc.readout(u);
    expect(out).not.toBe(u.values);
    expect(Array.from(out.dataSync())).toEqual(Array.from(u.values.dataSync()));
    out.dispose();
    u.dispose();
    disc.dispose();
    model.dispose();
  });
});
