/**
 * The one clock every part of a chaos run stamps its records with.
 *
 * `process.hrtime.bigint()` reads CLOCK_MONOTONIC, which on Linux is one clock
 * for the whole machine: a worker's "acquired" and the nemesis's "SIGSTOP sent"
 * are comparable across processes, and neither jumps with the wall clock.
 *
 * @module
 */

/**
 * Milliseconds on the machine-wide monotonic clock, with microsecond resolution.
 * Divided as a bigint first so the value stays exact however long the machine has been up.
 *
 * @example
 * ```ts
 * const started = monotonicMs();
 * await work();
 * console.log(`took ${monotonicMs() - started} ms`);
 * ```
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint() / 1_000n) / 1_000;
}

/**
 * Resolve after `ms` (only where no event exists to wait for).
 *
 * @example
 * ```ts
 * await sleep(50);
 * ```
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/**
 * `promise`, or `fallback` once `ms` have passed, whichever comes first. For
 * steps that may hang on a partitioned or paused engine and must not stall the run.
 *
 * @example
 * ```ts
 * await within(coordinator.close(), 2_000, undefined);
 * ```
 */
export async function within<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<F>((resolve) => (timer = setTimeout(() => resolve(fallback), ms)));
  try {
    return await Promise.race([promise, limit]);
  } finally {
    clearTimeout(timer);
  }
}
