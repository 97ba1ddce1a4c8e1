// `tide forward` and `tide inspect` on image models (torchvision ViT, HF ViT, HF CvT fixtures made by PyTorch):
// output and logits equal PyTorch's, the resized and non-square cases included; bad pixels, configs and weights
// end with one typed line, a non-zero exit and no output file — also under property-based fuzzing.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { initEngine, tf } from '@tide/backend';
import {
  VISION_FIXTURE_NAMES,
  fixtureDir,
  maxAbsDiff,
  parityTolerance,
  visionFixtureIO,
  visionIONames,
} from '@tide/fixtures';
import { readSafetensors, writeSafetensors, type TensorToWrite } from '@tide/formats';
import { SHAPES_MODEL_DIR } from './cli.js';
import { checkShapesModel, runImageStudy, shapesAccuracy } from './image-study.js';
import { ImageInputError } from '@tide/vision';
import { loadVisionCheckpoint } from '@tide/vision/node';
import { expectTypedFailure, expectTypedFailureOrSuccess, forwardOutcome, tide } from './cli-outcome.fixture.js';

const work = mkdtempSync(join(tmpdir(), 'tide-vision-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function writePixels(
  file: string,
  t: { shape: number[]; data: Float32Array | Int32Array; dtype?: TensorToWrite['dtype'] },
  name = 'pixel_values',
): void {
  writeFileSync(file, writeSafetensors({ [name]: { dtype: t.dtype ?? 'F32', shape: t.shape, data: t.data } }));
}

describe('tide forward on image models', () => {
  for (const name of VISION_FIXTURE_NAMES) {
    it(`${name}: writes output and logits equal to PyTorch's at every size of the fixture`, async () => {
      for (const io of visionIONames(name)) {
        const r = await forwardOutcome(work, fixtureDir(name), join(fixtureDir(name), `${io}.safetensors`));
        expect(r.code, r.err.join('\n')).toBe(0);
        const written = readSafetensors(new Uint8Array(readFileSync(r.output)), 'out');
        const ref = visionFixtureIO(name, io);
        for (const [key, expected] of [
          ['output', ref.output],
          ['logits', ref.logits!],
        ] as const) {
          const t = written.tensors.get(key)!;
          expect(t.shape, `${name}/${io} ${key}`).toEqual(expected.shape);
          const got = tf.tensor(t.data as Float32Array, [...t.shape]);
          expect(maxAbsDiff(got, expected), `${name}/${io} ${key}`).toBeLessThanOrEqual(parityTolerance(expected));
          got.dispose();
        }
        ref.dispose();
      }
    });
  }

  it('takes --scheme and --steps-per-layer, and refuses flags an image model has no use for (exit 2)', async () => {
    const dir = fixtureDir('vit-torchvision');
    const input = join(dir, 'io.safetensors');
    const ok = await forwardOutcome(work, dir, input, ['--scheme', 'rk4', '--steps-per-layer', '2']);
    expect(ok.code, ok.err.join('\n')).toBe(0);
    expect(ok.out.join('\n')).toMatch(/pre-LN rk4, 2 step\(s\) per layer/);
    expectTypedFailure(await forwardOutcome(work, dir, input, ['--schedule', 'linear']), 2);
    expectTypedFailure(await forwardOutcome(work, dir, input, ['--scheme', 'exact', '--steps-per-layer', '3']), 2);
  });

  it('bad pixels end with one line naming what was expected', async () => {
    const dir = fixtureDir('vit-torchvision');
    const file = join(work, 'pixels.safetensors');
    const cases: [Parameters<typeof writePixels>[1], RegExp, string?][] = [
      [{ shape: [1, 16, 16, 3], data: new Float32Array(768) }, /channels-last/],
      [{ shape: [1, 3, 18, 16], data: new Float32Array(864) }, /multiples of the patch size 4/],
      [{ shape: [1, 3, 16, 16], data: new Float32Array(768).fill(NaN) }, /finite pixel values/],
      [{ shape: [3, 16, 16], data: new Float32Array(768) }, /rank 4/],
      [{ shape: [1, 3, 16, 16], data: new Int32Array(768), dtype: 'I32' }, /a float dtype/],
      [{ shape: [1, 3, 16, 16], data: new Float32Array(768) }, /name the tensor pixel_values/, 'images'],
    ];
    for (const [t, message, name] of cases) {
      writePixels(file, t, name);
      const r = await forwardOutcome(work, dir, file);
      expectTypedFailure(r);
      expect(r.err[0]).toMatch(message);
    }
  });

  it('a config that does not match the weights, or truncated weights, end with one line and no output', async () => {
    const name = 'cvt-3stage';
    const dir = join(work, 'bad-model');
    const base = JSON.parse(readFileSync(join(fixtureDir(name), 'config.json'), 'utf8')) as Record<string, unknown>;
    const input = join(fixtureDir(name), 'io.safetensors');
    const variants: [Record<string, unknown>, RegExp][] = [
      [{ ...base, depth: [1, 1, 1] }, /unused tensor/],
      [{ ...base, embed_dim: [8, 16, 48] }, /shape/],
      [{ ...base, cls_token: [true, false, true] }, /last stage only/],
      [{ ...base, qkv_projection_method: ['avg', 'dw_bn', 'dw_bn'] }, /dw_bn/],
    ];
    for (const [config, message] of variants) {
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      copyFileSync(join(fixtureDir(name), 'model.safetensors'), join(dir, 'model.safetensors'));
      writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
      const r = await forwardOutcome(work, dir, input);
      expectTypedFailure(r);
      expect(r.err[0]).toMatch(message);
    }
    writeFileSync(join(dir, 'config.json'), JSON.stringify(base));
    writeFileSync(
      join(dir, 'model.safetensors'),
      readFileSync(join(fixtureDir(name), 'model.safetensors')).subarray(0, 5000),
    );
    expectTypedFailure(await forwardOutcome(work, dir, input));
  });

  it('an HF ViTModel without the vit. prefix and without a head, and a headless torchvision ViT: output only', async () => {
    for (const [name, keep] of [
      ['vit-hf', (k: string) => !k.startsWith('classifier.')],
      ['vit-torchvision', (k: string) => !k.startsWith('heads.')],
    ] as const) {
      const file = readSafetensors(new Uint8Array(readFileSync(join(fixtureDir(name), 'model.safetensors'))), name);
      const tensors: Record<string, TensorToWrite> = {};
      for (const [key, t] of file.tensors)
        if (keep(key))
          tensors[key.replace(/^vit\./, '')] = { dtype: 'F32', shape: t.shape, data: t.data as Float32Array };
      const dir = join(work, `${name}-headless`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(tensors));
      copyFileSync(join(fixtureDir(name), 'config.json'), join(dir, 'config.json'));
      const r = await forwardOutcome(work, dir, join(fixtureDir(name), 'io.safetensors'));
      expect(r.code, r.err.join('\n')).toBe(0);
      const written = readSafetensors(new Uint8Array(readFileSync(r.output)), 'out');
      expect([...written.tensors.keys()]).toEqual(['output']);
      const ref = visionFixtureIO(name);
      const got = tf.tensor(written.tensors.get('output')!.data as Float32Array, [...ref.output.shape]);
      expect(maxAbsDiff(got, ref.output)).toBeLessThanOrEqual(parityTolerance(ref.output));
      got.dispose();
      ref.dispose();
      const inspect = await tide('inspect', '--model', dir, '--backend', 'cpu');
      expect(inspect.out.join('\n')).toMatch(/no head/);
    }
  });

  it('takes float64 pixels, and refuses a CvT image too small for its kernels with the size it needs', async () => {
    const name = 'cvt-1stage';
    const ref = visionFixtureIO(name);
    const data = new Float64Array(ref.pixelValues.dataSync());
    const json = JSON.stringify({
      pixel_values: { dtype: 'F64', shape: ref.pixelValues.shape, data_offsets: [0, data.byteLength] },
    });
    const header = new TextEncoder().encode(json.padEnd(8 * Math.ceil(json.length / 8))); // a hand-written F64 file
    const bytes = new Uint8Array(8 + header.length + data.byteLength);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
    bytes.set(header, 8);
    bytes.set(new Uint8Array(data.buffer), 8 + header.length);
    const file = join(work, 'f64.safetensors');
    writeFileSync(file, bytes);
    const r = await forwardOutcome(work, fixtureDir(name), file);
    expect(r.code, r.err.join('\n')).toBe(0);
    ref.dispose();
    writePixels(file, { shape: [1, 3, 2, 2], data: new Float32Array(12) });
    const small = await forwardOutcome(work, fixtureDir('cvt-3stage'), file);
    expectTypedFailure(small);
    expect(small.err[0]).toMatch(
      /pixel_values.*size: expected an image whose every stage fits its kernels.*at least \d+ × \d+ pixels/,
    );
  });

  it('tide run refuses an image model the shapes study cannot score, before the text part', async () => {
    const r = await tide(
      'run',
      '--tokens',
      '2',
      '--backend',
      'cpu',
      '--image-model',
      fixtureDir('cvt-1stage'),
      '--report',
      join(work, 'r2'),
    );
    expectTypedFailure(r);
    expect(r.err[0]).toMatch(/a ViT on square 3-channel pictures with a 4-class head/);
    expect(r.out.join('\n')).not.toMatch(/generated/);
  });

  it('tide inspect describes the domains, stages and grids', async () => {
    const vit = await tide('inspect', '--model', fixtureDir('vit-torchvision'), '--backend', 'cpu');
    expect(vit.code).toBe(0);
    expect(vit.out.join('\n')).toMatch(
      /torchvision ViT[\s\S]*4 × 4 midpoint grid[\s\S]*class token as one extra quadrature point[\s\S]*bicubically/,
    );
    const cvt = await tide('inspect', '--model', fixtureDir('cvt-3stage'), '--backend', 'cpu');
    expect(cvt.code).toBe(0);
    const text = cvt.out.join('\n');
    expect(text).toMatch(/HF CvT/);
    expect(text.match(/^ {2}stage \d/gm)).toHaveLength(3);
    expect(text).toMatch(/keys and values on the grid coarsened by stride 2/);
  });
});

describe('tide train-vision and the image part of tide run', () => {
  it('trains a small ViT through the solver, records the run, and tide run reports its accuracies and kernels', async () => {
    const dir = join(work, 'shapes');
    const trained = await tide(
      'train-vision',
      '--out',
      dir,
      '--steps',
      '3',
      '--batch',
      '4',
      '--image-size',
      '16',
      '--patch',
      '8',
      '--d-model',
      '8',
      '--heads',
      '2',
      '--layers',
      '1',
      '--held-out',
      '8',
      '--backend',
      'cpu',
    );
    expect(trained.code, trained.err.join('\n')).toBe(0);
    expect(trained.out.join('\n')).toMatch(
      /16 × 16 \(2 × 2 patches\): accuracy [\d.]+% of 8[\s\S]*24 × 24 \(3 × 3 patches\)/,
    );
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(config).toMatchObject({
      format: 'torchvision-vit',
      image_size: 16,
      num_classes: 4,
      tide: { task: { name: 'shapes' } },
    });
    const inspect = await tide('inspect', '--model', dir, '--backend', 'cpu');
    expect(inspect.out.join('\n')).toMatch(/trained at 16 × 16 pixels/);
    const report = join(work, 'report');
    const run = await tide('run', '--tokens', '2', '--backend', 'cpu', '--image-model', dir, '--report', report);
    expect(run.code, run.err.join('\n')).toBe(0);
    expect(run.out.join('\n')).toMatch(/accuracy [\d.]+% of 400[\s\S]*1\.50×, position embedding resampled/);
    const html = readFileSync(join(report, 'index.html'), 'utf8');
    expect(html).toMatch(/data-chart="pictures"[\s\S]*data-chart="image-kernels"/);
  });

  it('refuses training resolutions that are not multiples of the patch (exit 2)', async () => {
    const r = await tide(
      'train-vision',
      '--out',
      join(work, 'x'),
      '--steps',
      '1',
      '--resolutions',
      '20,32',
      '--backend',
      'cpu',
    );
    expectTypedFailure(r, 2);
  });
});

describe('the image study as a library', () => {
  it('scores the embedded shapes ViT leaving no tensor behind, and refuses a model it cannot score', async () => {
    await initEngine({ backend: 'cpu', gradients: false });
    const model = loadVisionCheckpoint(SHAPES_MODEL_DIR);
    const before = tf.memory().numTensors;
    const a = shapesAccuracy(model, 32, { count: 20, batch: 8 });
    expect(a.count).toBe(20);
    expect(a.accuracy).toBeGreaterThan(0.5);
    const study = runImageStudy(model, { count: 8 });
    expect(study.accuracies.map((x) => x.size)).toEqual([32, 48]);
    expect(study.kernels).toHaveLength(2 * 16);
    expect(tf.memory().numTensors).toBe(before);
    const cvt = loadVisionCheckpoint(fixtureDir('cvt-1stage'));
    expect(() => checkShapesModel(cvt)).toThrow(ImageInputError);
    expect(() => runImageStudy(cvt)).toThrow(/a ViT on square 3-channel pictures/);
    cvt.dispose();
    model.dispose();
  });
});

describe('tide forward on image models under fuzzing', () => {
  it('malformed config.json fields never crash untyped', async () => {
    const jsonValue = fc.oneof(
      fc.constant(null),
      fc.boolean(),
      fc.integer({ min: -3, max: 40 }),
      fc.double({ noNaN: false }),
      fc.string({ maxLength: 6 }),
      fc.array(fc.oneof(fc.integer({ min: -1, max: 9 }), fc.boolean(), fc.constant('dw_bn')), { maxLength: 4 }),
    );
    const dir = join(work, 'fuzz-model');
    for (const name of ['vit-hf', 'cvt-3stage']) {
      const base = JSON.parse(readFileSync(join(fixtureDir(name), 'config.json'), 'utf8')) as Record<string, unknown>;
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...Object.keys(base), 'format', 'tide'), jsonValue, async (key, value) => {
          rmSync(dir, { recursive: true, force: true });
          mkdirSync(dir, { recursive: true });
          copyFileSync(join(fixtureDir(name), 'model.safetensors'), join(dir, 'model.safetensors'));
          writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...base, [key]: value }));
          expectTypedFailureOrSuccess(await forwardOutcome(work, dir, join(fixtureDir(name), 'io.safetensors')));
        }),
        { seed: 17, numRuns: 25 },
      );
    }
  });

  it('pixel_values of random shapes, dtypes and values never crash untyped', async () => {
    const file = join(work, 'fuzz-pixels.safetensors');
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 24 }), { minLength: 0, maxLength: 5 }),
        fc.constantFrom<TensorToWrite['dtype']>('F32', 'I32'),
        fc.constantFrom(0, 1, NaN, -1e30),
        fc.constantFrom('vit-torchvision', 'cvt-1stage'),
        async (dims, dtype, fill, name) => {
          const size = dims.reduce((a, b) => a * b, 1);
          if (size > 20000) return;
          const data = dtype === 'F32' ? new Float32Array(size).fill(fill) : new Int32Array(size);
          writePixels(file, { shape: dims, data, dtype });
          expectTypedFailureOrSuccess(await forwardOutcome(work, fixtureDir(name), file));
        },
      ),
      { seed: 23, numRuns: 40 },
    );
  });
});
