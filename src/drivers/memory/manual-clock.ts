/**
 * A clock that moves only when told to, for deterministic tests of leases,
 * keepalives and expiry.
 *
 * @module
 */
import type { Clock, ClockTimer } from '../../distributed/clock.js';

interface Pending {
  at: number;
  seq: number;
  fn: () => void;
}

/**
 * A {@link Clock} whose time advances only through {@link ManualClock.advance}.
 * Timers fire in order of due time (ties in order of creation).
 *
 * @example
 * ```ts
 * import { ManualClock, memorySpace } from 'deadbolt/drivers/memory';
 * const clock = new ManualClock();
 * memorySpace('expiry-test', { clock });
 * // … connect('memory://expiry-test'), take a lock, pause its session …
 * await clock.advance(10_000); // every lease due by then expires now
 * ```
 */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  readonly #timers = new Map<number, Pending>();
  /** The wall-clock time that `now() === 0` maps to. */
  readonly epoch: number;

  constructor(start = 0, epoch = Date.UTC(2025, 0, 1)) {
    this.#now = start;
    this.epoch = epoch;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): ClockTimer {
    const seq = ++this.#seq;
    this.#timers.set(seq, { at: this.#now + Math.max(0, ms), seq, fn });
    return seq;
  }

  clearTimeout(timer: ClockTimer): void {
    this.#timers.delete(timer as number);
  }

  toDate(time: number): Date {
    return new Date(this.epoch + time);
  }

  /** Timers not yet fired. */
  get pending(): number {
    return this.#timers.size;
  }

  /**
   * Move time forward by `ms`, firing every timer that falls due, in order,
   * and letting promise callbacks run after each (so keepalive answers and
   * grants settle between timers, as they would in real time).
   */
  async advance(ms: number): Promise<void> {
    const until = this.#now + ms;
    for (let next = this.#due(until); next !== undefined; next = this.#due(until)) {
      this.#timers.delete(next.seq);
      this.#now = Math.max(this.#now, next.at);
      next.fn();
      await settle();
    }
    this.#now = until;
    await settle();
  }

  /**
   * Move time forward by `ms` without firing anything, as a paused process
   * (SIGSTOP, a long GC) experiences it: its overdue timers fire only on the
   * next {@link advance}.
   */
  skip(ms: number): void {
    this.#now += ms;
  }

  #due(until: number): Pending | undefined {
    let first: Pending | undefined;
    for (const timer of this.#timers.values()) {
      if (timer.at <= until && (first === undefined || timer.at < first.at || (timer.at === first.at && timer.seq < first.seq))) first = timer;
    }
    return first;
  }
}

/** Let every queued promise callback run, however long its chain of awaits. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
