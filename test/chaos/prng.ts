/**
 * A small seeded pseudo-random generator (mulberry32), so that a chaos run's
 * choices (which fault, how long, which lock a worker wants next) follow from
 * its seed alone. Timing on a real machine still varies; the schedule does not.
 *
 * @module
 */

/**
 * A 32-bit string hash (FNV-1a), to derive independent streams from one seed.
 *
 * @example
 * ```ts
 * hash32('worker:3'); // a stable 32-bit number
 * ```
 */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * A seeded generator. Not for cryptography: for reproducible choices.
 *
 * @example
 * ```ts
 * const rng = new Prng(42);
 * rng.int(1, 3);           // 1, 2 or 3, the same on every run with seed 42
 * rng.fork('worker:1');    // an independent stream, also fixed by the seed
 * ```
 */
export class Prng {
  readonly seed: number;
  #state: number;

  constructor(seed: number) {
    this.seed = seed >>> 0;
    this.#state = this.seed;
  }

  /** A float in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }

  /** A float in [min, max). */
  float(min: number, max: number): number {
    return min + (max - min) * this.next();
  }

  /** An integer in [min, max], both included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick() needs at least one item');
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** A shuffled copy (Fisher–Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const copy = [...items];
    for (let i = copy.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [copy[i], copy[j]] = [copy[j]!, copy[i]!];
    }
    return copy;
  }

  /** An independent generator whose seed follows from this one's seed and `label`. */
  fork(label: string): Prng {
    return new Prng(hash32(`${this.seed}:${label}`));
  }
}
