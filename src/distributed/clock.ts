/**
 * The clock sessions and the memory engine measure leases with.
 *
 * Deadlines are taken on a monotonic clock (`performance.now()`), never on
 * `Date.now()`: a wall clock stepped by NTP or an operator could move a lease
 * deadline into the past or the future. Tests substitute a manual clock
 * (`ManualClock`, exported by the memory driver) to drive expiry deterministically.
 *
 * @module
 */

/**
 * A handle returned by {@link Clock.setTimeout}.
 *
 * @example
 * ```ts
 * const timer: ClockTimer = clock.setTimeout(() => {}, 10);
 * clock.clearTimeout(timer);
 * ```
 */
export type ClockTimer = unknown;

/**
 * Monotonic time and timers, in milliseconds.
 *
 * @example
 * ```ts
 * const start = clock.now();
 * clock.setTimeout(() => console.log(clock.now() - start), 100);
 * ```
 */
export interface Clock {
  /** Milliseconds on a monotonic scale with an arbitrary origin. */
  now(): number;
  /**
   * Call `fn` once, `ms` from now. Timers must not keep the process alive: a
   * lease's bookkeeping is no reason for a program to stay up.
   */
  setTimeout(fn: () => void, ms: number): ClockTimer;
  /** Cancel a timer; unknown or fired timers are ignored. */
  clearTimeout(timer: ClockTimer): void;
  /** Map a time on this clock to wall-clock time, for listings (`since`, `expiresAt`). */
  toDate(time: number): Date;
}

/**
 * The real clock: `performance.now()` and unref'd Node timers.
 *
 * @example
 * ```ts
 * const deadline = systemClock.now() + 5_000;
 * ```
 */
export const systemClock: Clock = Object.freeze({
  now: () => performance.now(),
  setTimeout(fn: () => void, ms: number): ClockTimer {
    return setTimeout(fn, Math.max(0, ms)).unref();
  },
  clearTimeout(timer: ClockTimer): void {
    clearTimeout(timer as NodeJS.Timeout);
  },
  toDate: (time: number) => new Date(Date.now() + (time - performance.now())),
});
