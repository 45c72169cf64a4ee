/** A seeded random generator for tests whose traffic must be the same on every run. */

/**
 * mulberry32: a small generator with a 32-bit state, so a failing run can be replayed.
 *
 * @param state The seed.
 * @returns A function giving the next number in [0, 1).
 */
export function random(state: number): () => number {
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
