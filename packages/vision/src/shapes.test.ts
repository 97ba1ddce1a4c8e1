import { describe, expect, it } from 'vitest';
import { ImageInputError } from './errors.js';
import {
  renderScene,
  SHAPE_CLASSES,
  SHAPE_MIN_CONTRAST,
  SHAPE_PIXEL_MEAN,
  SHAPE_PIXEL_STD,
  shapeScene,
  shapesBatch,
  type ShapeScene,
} from './shapes.js';

const normalised = (v: number): number => Math.fround((v - SHAPE_PIXEL_MEAN) / SHAPE_PIXEL_STD);

/** Box-averages a `[3, H, W]` image by `f × f` blocks. */
function boxAverage(image: Float32Array, height: number, width: number, f: number): Float64Array {
  const h = height / f;
  const w = width / f;
  const out = new Float64Array(3 * h * w); // [3, H/f, W/f]
  for (let c = 0; c < 3; c++)
    for (let i = 0; i < h; i++)
      for (let j = 0; j < w; j++) {
        let sum = 0;
        for (let p = 0; p < f; p++)
          for (let q = 0; q < f; q++) sum += image[c * height * width + (i * f + p) * width + j * f + q] as number;
        out[c * h * w + i * w + j] = sum / (f * f);
      }
  return out;
}

const meanAbsDifference = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let sum = 0;
  for (let n = 0; n < a.length; n++) sum += Math.abs((a[n] as number) - (b[n] as number));
  return sum / a.length;
};

/** The foreground fraction of each pixel of a noise-free render, read from the channel of largest contrast. */
function coverage(scene: ShapeScene, image: Float32Array, plane: number): Float64Array {
  let channel = 0;
  for (let c = 1; c < 3; c++)
    if (
      Math.abs(scene.foreground[c]! - scene.background[c]!) >
      Math.abs(scene.foreground[channel]! - scene.background[channel]!)
    )
      channel = c;
  const b = scene.background[channel]!;
  const s = scene.foreground[channel]!;
  const out = new Float64Array(plane);
  for (let n = 0; n < plane; n++)
    out[n] = ((image[channel * plane + n] as number) * SHAPE_PIXEL_STD + SHAPE_PIXEL_MEAN - b) / (s - b);
  return out;
}

describe('shapeScene', () => {
  it('is a pure function of (seed, index)', () => {
    expect(shapeScene(7, 3)).toEqual(shapeScene(7, 3));
    const a = renderScene(shapeScene(7, 3), 24, 40);
    const b = renderScene(shapeScene(7, 3), 24, 40);
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
  });

  it('gives different pictures for different indices and seeds', () => {
    const a = shapeScene(7, 3);
    for (const other of [shapeScene(7, 4), shapeScene(8, 3), shapeScene(7.5, 3), shapeScene(7, 2 ** 32 + 3)]) {
      expect(other.centre).not.toEqual(a.centre);
      expect(other.circumradius).not.toBe(a.circumradius);
      expect(other.background).not.toEqual(a.background);
      expect(other.noiseSeed).not.toBe(a.noiseSeed);
    }
    expect(shapeScene(-0, 5)).toEqual({ ...shapeScene(0, 5), seed: -0 });
  });

  it('draws the classes uniformly, every class present', () => {
    const counts = SHAPE_CLASSES.map(() => 0);
    for (let index = 0; index < 2000; index++) {
      const scene = shapeScene(11, index);
      expect(scene.shapeClass).toBe(SHAPE_CLASSES[scene.label]);
      counts[scene.label]!++;
    }
    // Binomial(2000, 1/4): mean 500, standard deviation ≈ 19.4; ±100 is five standard deviations.
    for (const count of counts) expect(Math.abs(count - 500)).toBeLessThan(100);
  });

  it('draws parameters in their documented ranges', () => {
    for (let index = 0; index < 1000; index++) {
      const scene = shapeScene(2, index);
      expect(scene.circumradius).toBeGreaterThanOrEqual(0.14);
      expect(scene.circumradius).toBeLessThanOrEqual(0.32);
      const [fr, fg, fb] = scene.foreground;
      const [br, bg, bb] = scene.background;
      expect(Math.hypot(fr - br, fg - bg, fb - bb)).toBeGreaterThanOrEqual(SHAPE_MIN_CONTRAST);
      for (const v of [...scene.foreground, ...scene.background]) {
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThanOrEqual(1);
      }
      if (scene.shapeClass === 'disc') expect(scene.rotation).toBe(0);
      if (scene.shapeClass === 'cross') {
        // Arms of half-width t and half-length a = √(R² − t²), t/a in [0.25, 0.45]: a plus sign, not a square.
        const ratio = scene.armHalfWidth / Math.sqrt(scene.circumradius ** 2 - scene.armHalfWidth ** 2);
        expect(ratio).toBeGreaterThanOrEqual(0.25 - 1e-12);
        expect(ratio).toBeLessThanOrEqual(0.45 + 1e-12);
      } else expect(scene.armHalfWidth).toBe(0);
    }
  });
});

describe('renderScene', () => {
  it('renders one picture: images at 32 × 32 and 48 × 48 agree once both are averaged to 16 × 16', () => {
    // Both 16 × 16 images are midpoint rules for the cell averages of one function on [0, 1]², with 4² and 6²
    // samples per cell at the default supersampling: they differ only in cells the outline crosses.
    const errors: Record<number, number> = {};
    for (const supersample of [1, 2, 4]) {
      let worst = 0;
      for (let index = 0; index < 200; index++) {
        const scene = shapeScene(3, index);
        const coarse = boxAverage(renderScene(scene, 32, 32, { noise: 0, supersample }), 32, 32, 2);
        const fine = boxAverage(renderScene(scene, 48, 48, { noise: 0, supersample }), 48, 48, 3);
        worst = Math.max(worst, meanAbsDifference(coarse, fine));
      }
      errors[supersample] = worst;
    }
    // In normalised units (the colour range [0, 1] spans 4): under 1 % of the range per pixel on average.
    expect(errors[2]).toBeLessThan(0.04);
    // The disagreement is discretisation error: it shrinks as each pixel takes more samples.
    expect(errors[4]).toBeLessThan(errors[2]! / 1.5);
    expect(errors[2]).toBeLessThan(errors[1]! / 1.5);

    // With the default noise (σ = 0.02, i.e. 0.08 normalised) the averages still agree, and another picture does not.
    let noisy = 0;
    let other = Infinity;
    for (let index = 0; index < 100; index++) {
      const coarse = boxAverage(renderScene(shapeScene(3, index), 32, 32), 32, 32, 2);
      const fine = boxAverage(renderScene(shapeScene(3, index), 48, 48), 48, 48, 3);
      const wrong = boxAverage(renderScene(shapeScene(3, index + 1), 48, 48), 48, 48, 3);
      noisy = Math.max(noisy, meanAbsDifference(coarse, fine));
      other = Math.min(other, meanAbsDifference(coarse, wrong));
    }
    expect(noisy).toBeLessThan(0.08);
    expect(other).toBeGreaterThan(2 * noisy);
  });

  it('keeps the shape inside the image at a sensible size', () => {
    const fractions: number[] = [];
    for (let index = 0; index < 400; index++) {
      const scene = shapeScene(5, index);
      const cover = coverage(scene, renderScene(scene, 64, 64, { noise: 0, supersample: 4 }), 64 * 64);
      const fraction = cover.reduce((a, b) => a + b, 0) / cover.length;
      // Smallest: a triangle of circumradius 0.14 (2.5 %); largest: a disc of radius 0.32 (32.2 %).
      expect(fraction).toBeGreaterThan(0.02);
      expect(fraction).toBeLessThan(0.35);
      fractions.push(fraction);
    }
    const mean = fractions.reduce((a, b) => a + b, 0) / fractions.length;
    expect(mean).toBeGreaterThan(0.03);
    expect(mean).toBeLessThan(0.4);
  });

  it('leaves the outermost ring of pixels pure background at every size ≥ 16 (the shape lies in [1/16, 15/16]²)', () => {
    for (const [height, width] of [
      [16, 16],
      [32, 32],
      [48, 48],
      [20, 36],
    ] as const) {
      for (let index = 0; index < 200; index++) {
        const scene = shapeScene(9, index);
        const image = renderScene(scene, height, width, { noise: 0, supersample: 4 });
        let mismatches = 0;
        for (let c = 0; c < 3; c++) {
          const bg = normalised(scene.background[c]!);
          const at = (i: number, j: number): number => image[c * height * width + i * width + j] as number;
          for (let j = 0; j < width; j++) if (at(0, j) !== bg || at(height - 1, j) !== bg) mismatches++;
          for (let i = 0; i < height; i++) if (at(i, 0) !== bg || at(i, width - 1) !== bg) mismatches++;
        }
        expect(mismatches, `scene ${index} at ${height} × ${width}`).toBe(0);
      }
    }
  });

  it('normalises as (v − 0.5) / 0.25: exactly the two colours away from the outline when noise is 0', () => {
    // A hand-built disc of radius 1/4 at the centre, red on blue, on an 8 × 8 grid.
    const scene: ShapeScene = {
      ...shapeScene(0, 0),
      shapeClass: 'disc',
      label: 0,
      centre: [0.5, 0.5],
      circumradius: 0.25,
      rotation: 0,
      armHalfWidth: 0,
      foreground: [1, 0, 0],
      background: [0, 0, 1],
    };
    const image = renderScene(scene, 8, 8, { noise: 0, supersample: 3 });
    let inside = 0;
    let outside = 0;
    for (let i = 0; i < 8; i++)
      for (let j = 0; j < 8; j++) {
        // The cell [j/8, (j+1)/8] × [i/8, (i+1)/8]: its nearest and farthest distances to the centre.
        const gap = (lo: number): [number, number] => {
          const a = lo - 0.5;
          const b = lo + 1 / 8 - 0.5;
          return [a <= 0 && b >= 0 ? 0 : Math.min(Math.abs(a), Math.abs(b)), Math.max(Math.abs(a), Math.abs(b))];
        };
        const [nx, fx] = gap(j / 8);
        const [ny, fy] = gap(i / 8);
        const pixel = [0, 1, 2].map((c) => image[c * 64 + i * 8 + j]);
        if (Math.hypot(fx, fy) < 0.25) {
          expect(pixel).toEqual([2, -2, -2]);
          inside++;
        } else if (Math.hypot(nx, ny) > 0.25) {
          expect(pixel).toEqual([-2, -2, 2]);
          outside++;
        }
      }
    expect(inside).toBe(4);
    expect(outside).toBeGreaterThan(30);

    // Random scenes: every noise-free value is (1 − m) b_c + m s_c, normalised, with m a multiple of 1/k².
    for (let index = 0; index < 50; index++) {
      const random = shapeScene(4, index);
      const k = 3;
      const cover = coverage(random, renderScene(random, 32, 32, { noise: 0, supersample: k }), 32 * 32);
      let full = 0;
      for (const m of cover) {
        expect(Math.abs(m * k * k - Math.round(m * k * k))).toBeLessThan(1e-3);
        if (Math.round(m * k * k) === k * k) full++;
      }
      expect(full).toBeGreaterThan(0);
    }
  });

  it('adds reproducible Gaussian noise of the requested standard deviation', () => {
    const scene = shapeScene(1, 1);
    const clean = renderScene(scene, 64, 64, { noise: 0 });
    const noisy = renderScene(scene, 64, 64, { noise: 0.1 });
    expect(renderScene(scene, 64, 64, { noise: 0.1 })).toEqual(noisy);
    let sum = 0;
    let squares = 0;
    for (let n = 0; n < clean.length; n++) {
      const e = (noisy[n] as number) - (clean[n] as number);
      sum += e;
      squares += e * e;
    }
    const mean = sum / clean.length;
    const std = Math.sqrt(squares / clean.length - mean * mean);
    // 12 288 samples of N(0, 0.4²) (0.1 / 0.25): the mean within 0.02 (five standard errors), the std within 3 %.
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(Math.abs(std - 0.4)).toBeLessThan(0.012);
  });

  it('rejects bad sizes, options and scenes with ImageInputError', () => {
    const scene = shapeScene(0, 0);
    const bad: (() => unknown)[] = [
      () => renderScene(scene, 0, 8),
      () => renderScene(scene, 8, 1025),
      () => renderScene(scene, 8.5, 8),
      () => renderScene(scene, 8, Number.NaN),
      () => renderScene(scene, 8, 8, { supersample: 0 }),
      () => renderScene(scene, 8, 8, { supersample: 17 }),
      () => renderScene(scene, 8, 8, { supersample: 1.5 }),
      () => renderScene(scene, 8, 8, { noise: -0.1 }),
      () => renderScene(scene, 8, 8, { noise: Number.POSITIVE_INFINITY }),
      () => renderScene({ ...scene, shapeClass: 'star' as never }, 8, 8),
      () => renderScene({ ...scene, circumradius: Number.NaN }, 8, 8),
      () => renderScene({ ...scene, foreground: [1, 0] as never }, 8, 8),
      () => renderScene(null as never, 8, 8),
    ];
    for (const call of bad) expect(call).toThrow(ImageInputError);
  });
});

describe('shapesBatch', () => {
  it('stacks the scenes start … start + count − 1 with their labels', () => {
    const batch = shapesBatch({ seed: 3, start: 10, count: 5, height: 12, width: 20, noise: 0.05 });
    expect(batch.shape).toEqual([5, 3, 12, 20]);
    expect(batch.pixels.length).toBe(5 * 3 * 12 * 20);
    for (let b = 0; b < 5; b++) {
      const scene = shapeScene(3, 10 + b);
      expect(batch.labels[b]).toBe(scene.label);
      const image = renderScene(scene, 12, 20, { noise: 0.05 });
      expect(batch.pixels.subarray(b * image.length, (b + 1) * image.length)).toEqual(image);
    }
    expect(shapesBatch({ seed: 3, start: 10, count: 5, height: 12, width: 20, noise: 0.05 })).toEqual(batch);
  });

  it('rejects bad options with ImageInputError', () => {
    const ok = { seed: 0, count: 2, height: 8, width: 8 };
    const bad: object[] = [
      { ...ok, seed: Number.NaN },
      { ...ok, seed: Number.POSITIVE_INFINITY },
      { ...ok, seed: '1' },
      { ...ok, count: 0 },
      { ...ok, count: 65537 },
      { ...ok, count: 2.5 },
      { ...ok, start: -1 },
      { ...ok, start: Number.MAX_SAFE_INTEGER },
      { ...ok, height: 2000 },
      { ...ok, width: 0 },
      { ...ok, supersample: 0 },
      { ...ok, noise: Number.NaN },
      { ...ok, count: 65536, height: 64, width: 64 }, // 2^28 + 2^29 values: too many for one batch
    ];
    for (const options of bad) expect(() => shapesBatch(options as never)).toThrow(ImageInputError);
    expect(() => shapesBatch(undefined as never)).toThrow(ImageInputError);
    expect(() => shapeScene(Number.NaN, 0)).toThrow(ImageInputError);
    expect(() => shapeScene(0, -1)).toThrow(ImageInputError);
    expect(() => shapeScene(0, 0.5)).toThrow(ImageInputError);
  });
});
