/**
 * A small seeded pseudo-random generator (mulberry32) for reproducible sampling and batches. tfjs treats seed 0
 * as "no seed"; this generator does not: every seed, 0 included, gives its own fixed sequence.
 */
/** mulberry32: a small seeded generator in [0, 1) (batches, sampling). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
