/**
 * The shapes task: a procedurally generated four-class image-classification data set that ships as code.
 *
 * Each picture is a function on the token domain Ω_x = [0, 1]² (paper §6; docs/image-models.md): one filled shape —
 * a disc, a square, an equilateral triangle or a plus-shaped cross — of a random colour on a dark background,
 *
 *     I_c(x) = b_c + (s_c − b_c) · 1_S(x),   x ∈ [0, 1]²,  c ∈ {R, G, B},
 *
 * where 1_S is the indicator of the shape S. A scene holds only the parameters of S and the two colours, never
 * pixels, so the same picture can be rendered on any `H × W` pixel grid: pixel (i, j) is the average of 1_S over
 * `k × k` point samples in its cell `[j/W, (j+1)/W] × [i/H, (i+1)/H]` (a midpoint rule for the cell integral),
 * which makes images of one scene at two resolutions discretisations of one function — what a resolution change
 * of an image Transformer is meant to respect.
 */
import { describeValue, seededRandom } from '@tide/backend';
import { ImageInputError } from './errors.js';

/** The classes of the shapes task; a scene's `label` indexes this list. */
export const SHAPE_CLASSES = ['disc', 'square', 'triangle', 'cross'] as const;

/** One class name of the shapes task. */
export type ShapeClass = (typeof SHAPE_CLASSES)[number];

/** An RGB colour with channels in [0, 1]. */
export type Rgb = readonly [number, number, number];

/**
 * The parameters of one picture of the shapes task: everything needed to evaluate it at any point of [0, 1]².
 *
 * Coordinates are `(x, y)` with `x` along the image width (columns, left to right) and `y` along the height (rows,
 * top to bottom), as pixel `(i, j)` covers `[j/W, (j+1)/W] × [i/H, (i+1)/H]`.
 */
export interface ShapeScene {
  /** The data set's seed. */
  readonly seed: number;
  /** The picture's index in the data set. */
  readonly index: number;
  /** The class, an index into {@link SHAPE_CLASSES}. */
  readonly label: number;
  /** The class name, `SHAPE_CLASSES[label]`. */
  readonly shapeClass: ShapeClass;
  /** The shape's centre `(x, y)` in [0, 1]². */
  readonly centre: readonly [number, number];
  /** The radius of the smallest disc about `centre` that holds the shape, as a fraction of the side (0.14–0.32). */
  readonly circumradius: number;
  /** The rotation in radians, clockwise on screen (y points down); 0 for a disc. */
  readonly rotation: number;
  /** Half the width of a cross's arms (0 for the other classes); its arms reach `√(R² − t²)` from the centre. */
  readonly armHalfWidth: number;
  /** The shape's colour. */
  readonly foreground: Rgb;
  /** The background's colour; its RGB distance to `foreground` is at least {@link SHAPE_MIN_CONTRAST}. */
  readonly background: Rgb;
  /** The seed of the pixel noise added when rendering (a 32-bit unsigned integer). */
  readonly noiseSeed: number;
}

/** How {@link renderScene} samples a scene. */
export interface ShapeRenderOptions {
  /** Point samples per pixel side (`k × k` per pixel), an integer in [1, 16]; default 2. */
  readonly supersample?: number;
  /** The standard deviation of the Gaussian pixel noise, on the [0, 1] colour scale before normalising; default 0.02. */
  readonly noise?: number;
}

/** What {@link shapesBatch} renders. */
export interface ShapesBatchOptions extends ShapeRenderOptions {
  /** The data set's seed (any finite number). */
  readonly seed: number;
  /** The index of the first picture; default 0. */
  readonly start?: number;
  /** How many pictures, an integer in [1, 65536]. */
  readonly count: number;
  /** Pixel rows, an integer in [1, 1024]. */
  readonly height: number;
  /** Pixel columns, an integer in [1, 1024]. */
  readonly width: number;
}

/** A rendered batch of the shapes task. */
export interface ShapesBatch {
  /** Normalised pixels `[B, 3, H, W]`, channels first, row-major. */
  readonly pixels: Float32Array;
  /** The class of each picture `[B]`, indices into {@link SHAPE_CLASSES}. */
  readonly labels: Int32Array;
  /** `[B, 3, H, W]`. */
  readonly shape: [number, number, number, number];
}

/** The darkest-to-lightest range of a background's grey level, and the most a channel is tinted away from it. */
const MAX_BACKGROUND_GREY = 0.25;
const BACKGROUND_TINT = 0.05;

/** The smallest RGB (Euclidean) distance between a scene's shape and background colours. */
export const SHAPE_MIN_CONTRAST = 0.4;

/** Rendered values are normalised as `(v − SHAPE_PIXEL_MEAN) / SHAPE_PIXEL_STD`. */
export const SHAPE_PIXEL_MEAN = 0.5;
/** See {@link SHAPE_PIXEL_MEAN}. */
export const SHAPE_PIXEL_STD = 0.25;

const MIN_CIRCUMRADIUS = 0.14;
const MAX_CIRCUMRADIUS = 0.32;
/** Every shape lies in `[MARGIN, 1 − MARGIN]²`, so for H, W ≥ 16 the outermost ring of pixels is pure background. */
const MARGIN = 1 / 16;
/** A cross's arm half-width over its arm half-length. */
const MIN_ARM_RATIO = 0.25;
const MAX_ARM_RATIO = 0.45;
const MAX_SIDE = 1024;
const MAX_SUPERSAMPLE = 16;
const MAX_COUNT = 65536;
/** The most values one batch may hold (1 GiB of float32). */
const MAX_BATCH_VALUES = 2 ** 28;

/**
 * The parameters of picture `index` of the shapes data set `seed`: a pure function of `(seed, index)` (a
 * splitmix-style hash of both seeds a mulberry32 stream), so any picture can be regenerated alone, in any order.
 *
 * The class is uniform over {@link SHAPE_CLASSES}; the circumradius uniform in [0.14, 0.32]; the rotation uniform
 * in [0, 2π) (0 for a disc); a cross's arm half-width is 0.25–0.45 of its arm half-length; the centre is uniform
 * over the positions that keep the whole shape in `[1/16, 15/16]²`; the background is a dark grey (level uniform
 * in [0, 0.25], each channel tinted by up to 0.05) and the shape's colour is uniform in [0, 1]³, at least
 * {@link SHAPE_MIN_CONTRAST} from the background.
 *
 * @param seed - the data set, any finite number (e.g. one seed for training, another for held-out pictures)
 * @param index - the picture, an integer ≥ 0
 * @throws ImageInputError when `seed` is not finite or `index` not a non-negative safe integer
 */
export function shapeScene(seed: number, index: number): ShapeScene {
  checkSeed('shapeScene: seed', seed);
  checkIndex('shapeScene: index', index);
  const random = seededRandom(hashSeedIndex(seed, index));
  const label = Math.min(SHAPE_CLASSES.length - 1, Math.floor(random() * SHAPE_CLASSES.length));
  const shapeClass = SHAPE_CLASSES[label] as ShapeClass;
  const circumradius = MIN_CIRCUMRADIUS + (MAX_CIRCUMRADIUS - MIN_CIRCUMRADIUS) * random();
  const angle = 2 * Math.PI * random();
  const armRatio = MIN_ARM_RATIO + (MAX_ARM_RATIO - MIN_ARM_RATIO) * random();
  const noiseSeed = Math.floor(random() * 2 ** 32) >>> 0;
  const rotation = shapeClass === 'disc' ? 0 : angle;
  const armHalfWidth = shapeClass === 'cross' ? (circumradius * armRatio) / Math.sqrt(1 + armRatio * armRatio) : 0;
  const grey = MAX_BACKGROUND_GREY * random();
  const background: Rgb = [
    grey + BACKGROUND_TINT * random(),
    grey + BACKGROUND_TINT * random(),
    grey + BACKGROUND_TINT * random(),
  ];
  const foreground = contrastingColour(background, random);
  const partial = { shapeClass, circumradius, rotation, armHalfWidth, centre: [0, 0] as const };
  const [minX, maxX, minY, maxY] = shapeExtent(partial);
  const centre: [number, number] = [
    MARGIN - minX + (1 - 2 * MARGIN - (maxX - minX)) * random(),
    MARGIN - minY + (1 - 2 * MARGIN - (maxY - minY)) * random(),
  ];
  return {
    seed,
    index,
    label,
    shapeClass,
    centre,
    circumradius,
    rotation,
    armHalfWidth,
    foreground,
    background,
    noiseSeed,
  };
}

/**
 * Renders a scene on an `height × width` pixel grid: `[3, H, W]` channels first, row-major.
 *
 *     v_c(i, j) = (1 − m_ij) b_c + m_ij s_c + σ ε_c(i, j),   m_ij = (1/k²) Σ_{p,q<k} 1_S(x_q, y_p),
 *     x_q = (j + (q + ½)/k) / W,   y_p = (i + (p + ½)/k) / H,   ε ~ N(0, 1),
 *
 * then normalised to `(v − 0.5) / 0.25` (so the colours [0, 1] map to [−2, 2]). The noise is seeded by the
 * scene's `noiseSeed`, so a render is reproducible; it is independent per pixel (the one part of a render that
 * is not a sample of the picture) and not clipped. With `noise: 0`, a pixel whose cell lies
 * inside (outside) the shape is exactly the normalised shape (background) colour.
 *
 * @param scene - a scene from {@link shapeScene}
 * @param height - pixel rows, an integer in [1, 1024]
 * @param width - pixel columns, an integer in [1, 1024]
 * @throws ImageInputError for a malformed scene, size or option
 */
export function renderScene(
  scene: ShapeScene,
  height: number,
  width: number,
  options: ShapeRenderOptions = {},
): Float32Array {
  checkScene('renderScene: scene', scene);
  checkSide('renderScene: height', height);
  checkSide('renderScene: width', width);
  const { supersample, noise } = checkRenderOptions('renderScene', options);
  const out = new Float32Array(3 * height * width); // [3, H, W]
  renderInto(out, 0, scene, height, width, supersample, noise);
  return out;
}

/**
 * Renders pictures `start … start + count − 1` of the data set `seed` at `height × width`: normalised pixels
 * `[B, 3, H, W]` (see {@link renderScene}) and their labels `[B]`. Ready for `tf.tensor4d(pixels, shape)`.
 *
 * @throws ImageInputError for a non-finite seed, a count outside [1, 65536], a negative start, a side outside
 *   [1, 1024], a bad option, or a batch of more than 2²⁸ values
 */
export function shapesBatch(options: ShapesBatchOptions): ShapesBatch {
  if (typeof options !== 'object' || options === null)
    throw new ImageInputError('shapesBatch: options', {
      expected: 'an object { seed, count, height, width, start?, supersample?, noise? }',
      received: describeValue(options),
      fix: 'pass the options as one object',
    });
  const { seed, start = 0, count, height, width } = options;
  checkSeed('shapesBatch: seed', seed);
  checkIndex('shapesBatch: start', start);
  checkInteger('shapesBatch: count', count, 1, MAX_COUNT, 'render at most 65536 pictures per batch');
  checkSide('shapesBatch: height', height);
  checkSide('shapesBatch: width', width);
  checkIndex('shapesBatch: last index (start + count − 1)', start + count - 1);
  const { supersample, noise } = checkRenderOptions('shapesBatch', options);
  const perImage = 3 * height * width;
  if (count * perImage > MAX_BATCH_VALUES)
    throw new ImageInputError('shapesBatch: batch size', {
      expected: `count · 3 · height · width ≤ 2^28 values`,
      received: `${count} · 3 · ${height} · ${width} = ${count * perImage}`,
      fix: `render at most ${Math.floor(MAX_BATCH_VALUES / perImage)} pictures of this size per batch`,
    });
  const pixels = new Float32Array(count * perImage); // [B, 3, H, W]
  const labels = new Int32Array(count); // [B]
  for (let b = 0; b < count; b++) {
    const scene = shapeScene(seed, start + b);
    labels[b] = scene.label;
    renderInto(pixels, b * perImage, scene, height, width, supersample, noise);
  }
  return { pixels, labels, shape: [count, 3, height, width] };
}

/** Writes the normalised `[3, H, W]` render of `scene` into `out` from `offset`. */
function renderInto(
  out: Float32Array,
  offset: number,
  scene: ShapeScene,
  height: number,
  width: number,
  supersample: number,
  noise: number,
): void {
  const plane = height * width;
  const coverage = new Float32Array(plane); // [H, W], the mean of 1_S over each pixel's samples
  const [minX, maxX, minY, maxY] = shapeExtent(scene);
  const cos = Math.cos(scene.rotation);
  const sin = Math.sin(scene.rotation);
  const k = supersample;
  // Only rows and columns whose cell meets the shape's bounding box can have samples inside it.
  const i0 = Math.max(0, Math.floor(minY * height));
  const i1 = Math.min(height - 1, Math.floor(maxY * height));
  const j0 = Math.max(0, Math.floor(minX * width));
  const j1 = Math.min(width - 1, Math.floor(maxX * width));
  for (let i = i0; i <= i1; i++) {
    for (let j = j0; j <= j1; j++) {
      let hits = 0;
      for (let p = 0; p < k; p++) {
        const dy = (i + (p + 0.5) / k) / height - scene.centre[1];
        for (let q = 0; q < k; q++) {
          const dx = (j + (q + 0.5) / k) / width - scene.centre[0];
          if (insideLocal(scene, cos * dx + sin * dy, -sin * dx + cos * dy)) hits++;
        }
      }
      coverage[i * width + j] = hits / (k * k);
    }
  }
  const gaussian = noise > 0 ? gaussianStream(scene.noiseSeed) : undefined;
  for (let c = 0; c < 3; c++) {
    const bc = scene.background[c] as number;
    const sc = scene.foreground[c] as number;
    const base = offset + c * plane;
    for (let n = 0; n < plane; n++) {
      const m = coverage[n] as number;
      let v = (1 - m) * bc + m * sc; // exactly b_c or s_c when m is 0 or 1
      if (gaussian !== undefined) v += noise * gaussian();
      out[base + n] = (v - SHAPE_PIXEL_MEAN) / SHAPE_PIXEL_STD;
    }
  }
}

type ShapeGeometry = Pick<ShapeScene, 'shapeClass' | 'circumradius' | 'rotation' | 'armHalfWidth' | 'centre'>;

/** `1_S` in the shape's own frame `(u, v)`: centred, unrotated. */
function insideLocal(scene: ShapeGeometry, u: number, v: number): boolean {
  const r = scene.circumradius;
  switch (scene.shapeClass) {
    case 'disc':
      return u * u + v * v <= r * r;
    case 'square': {
      const h = r / Math.SQRT2;
      return Math.abs(u) <= h && Math.abs(v) <= h;
    }
    case 'triangle':
      // Equilateral, apex towards −v: each edge lies at the inradius r/2, its outward normal opposite a vertex.
      return v <= r / 2 && (Math.sqrt(3) / 2) * u - 0.5 * v <= r / 2 && -(Math.sqrt(3) / 2) * u - 0.5 * v <= r / 2;
    case 'cross': {
      const t = scene.armHalfWidth;
      const a = Math.sqrt(Math.max(0, r * r - t * t));
      const au = Math.abs(u);
      const av = Math.abs(v);
      return (au <= a && av <= t) || (au <= t && av <= a);
    }
  }
}

/** The shape's bounding box `[minX, maxX, minY, maxY]` (exact: the extremes of its outline's vertices). */
function shapeExtent(scene: ShapeGeometry): [number, number, number, number] {
  const r = scene.circumradius;
  const [cx, cy] = scene.centre;
  if (scene.shapeClass === 'disc') return [cx - r, cx + r, cy - r, cy + r];
  const vertices = shapeVertices(scene);
  const cos = Math.cos(scene.rotation);
  const sin = Math.sin(scene.rotation);
  let minX = Infinity;
  let maxX = -Infinity;
  let minY = Infinity;
  let maxY = -Infinity;
  for (const [u, v] of vertices) {
    const x = cx + cos * u - sin * v;
    const y = cy + sin * u + cos * v;
    minX = Math.min(minX, x);
    maxX = Math.max(maxX, x);
    minY = Math.min(minY, y);
    maxY = Math.max(maxY, y);
  }
  return [minX, maxX, minY, maxY];
}

/** The outer vertices of a polygonal shape in its own frame. */
function shapeVertices(scene: ShapeGeometry): [number, number][] {
  const r = scene.circumradius;
  if (scene.shapeClass === 'square') {
    const h = r / Math.SQRT2;
    return [
      [h, h],
      [-h, h],
      [-h, -h],
      [h, -h],
    ];
  }
  if (scene.shapeClass === 'triangle') {
    const s = (Math.sqrt(3) / 2) * r;
    return [
      [0, -r],
      [s, r / 2],
      [-s, r / 2],
    ];
  }
  const t = scene.armHalfWidth;
  const a = Math.sqrt(Math.max(0, r * r - t * t));
  return [
    [a, t],
    [a, -t],
    [-a, t],
    [-a, -t],
    [t, a],
    [-t, a],
    [t, -a],
    [-t, -a],
  ];
}

/** A shape colour at least {@link SHAPE_MIN_CONTRAST} from `background`: rejection sampling, then a fallback. */
function contrastingColour(background: Rgb, random: () => number): Rgb {
  for (let attempt = 0; attempt < 32; attempt++) {
    const colour: Rgb = [random(), random(), random()];
    if (rgbDistance(colour, background) >= SHAPE_MIN_CONTRAST) return colour;
  }
  // Every channel 0.5 away: distance √0.75 ≈ 0.87.
  return background.map((b) => (b < 0.5 ? b + 0.5 : b - 0.5)) as unknown as Rgb;
}

function rgbDistance(a: Rgb, b: Rgb): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
}

/** murmur3's 32-bit finaliser: a bijective avalanche on uint32. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A 32-bit hash of `(seed, index)`: all 64 bits of the float seed and of the index. */
function hashSeedIndex(seed: number, index: number): number {
  const bits = new DataView(new ArrayBuffer(8));
  bits.setFloat64(0, seed === 0 ? 0 : seed); // −0 and 0 name one data set
  let h = 0x9e3779b9;
  for (const word of [bits.getUint32(0), bits.getUint32(4), index >>> 0, Math.floor(index / 2 ** 32) >>> 0]) {
    h = fmix32((h ^ word) + 0x9e3779b9);
  }
  return h;
}

/** Standard normal samples (Box–Muller, both values used) from a mulberry32 stream. */
function gaussianStream(seed: number): () => number {
  const random = seededRandom(fmix32(seed ^ 0x5bd1e995));
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const value = spare;
      spare = undefined;
      return value;
    }
    const u = 1 - random(); // (0, 1]
    const radius = Math.sqrt(-2 * Math.log(u));
    const angle = 2 * Math.PI * random();
    spare = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  };
}

function checkInteger(what: string, value: unknown, min: number, max: number, fix: string): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
    throw new ImageInputError(what, {
      expected: `an integer in [${min}, ${max === Number.MAX_SAFE_INTEGER ? '2^53 − 1' : max}]`,
      received: describeValue(value),
      fix,
    });
}

function checkSeed(what: string, seed: unknown): void {
  if (typeof seed !== 'number' || !Number.isFinite(seed))
    throw new ImageInputError(what, {
      expected: 'a finite number',
      received: describeValue(seed),
      fix: 'pass a number such as 0 (training) or 1 (held out) to name the data set',
    });
}

function checkIndex(what: string, index: unknown): void {
  checkInteger(what, index, 0, Number.MAX_SAFE_INTEGER, 'number the pictures 0, 1, 2, …');
}

function checkSide(what: string, side: unknown): void {
  checkInteger(what, side, 1, MAX_SIDE, 'render at most 1024 pixels per side');
}

function checkRenderOptions(source: string, options: ShapeRenderOptions): { supersample: number; noise: number } {
  if (typeof options !== 'object' || options === null)
    throw new ImageInputError(`${source}: options`, {
      expected: 'an object { supersample?, noise? }',
      received: describeValue(options),
      fix: 'pass the options as one object, or none',
    });
  const { supersample = 2, noise = 0.02 } = options;
  checkInteger(
    `${source}: supersample`,
    supersample,
    1,
    MAX_SUPERSAMPLE,
    'use 1 (no anti-aliasing) to 16 samples per side',
  );
  if (typeof noise !== 'number' || !Number.isFinite(noise) || noise < 0)
    throw new ImageInputError(`${source}: noise`, {
      expected: 'a finite standard deviation ≥ 0',
      received: describeValue(noise),
      fix: 'pass 0 for clean pictures, or a small standard deviation such as 0.02',
    });
  return { supersample, noise };
}

function checkScene(what: string, scene: unknown): void {
  const s = scene as Partial<ShapeScene> | null;
  const finite = (x: unknown): boolean => typeof x === 'number' && Number.isFinite(x);
  const colour = (c: unknown): boolean => Array.isArray(c) && c.length === 3 && c.every(finite);
  const ok =
    typeof s === 'object' &&
    s !== null &&
    (SHAPE_CLASSES as readonly unknown[]).includes(s.shapeClass) &&
    Array.isArray(s.centre) &&
    s.centre.length === 2 &&
    s.centre.every(finite) &&
    finite(s.circumradius) &&
    (s.circumradius as number) > 0 &&
    finite(s.rotation) &&
    finite(s.armHalfWidth) &&
    (s.armHalfWidth as number) >= 0 &&
    (s.armHalfWidth as number) <= (s.circumradius as number) &&
    colour(s.foreground) &&
    colour(s.background) &&
    finite(s.noiseSeed);
  if (!ok)
    throw new ImageInputError(what, {
      expected: `a ShapeScene (class one of ${SHAPE_CLASSES.join(', ')}; finite centre, circumradius > 0, rotation, arm half-width in [0, circumradius], RGB colours, noise seed)`,
      received: describeValue(scene),
      fix: 'build scenes with shapeScene(seed, index)',
    });
}
