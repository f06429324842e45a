/**
 * Semaphore: `permits` units shared by async tasks of one process, granted in
 * strict FIFO order, each request taking `weight` units at once.
 *
 * @module
 */
import { invalidRange } from '../errors.js';
import { checkAcquireOptions, checkCount, checkFunction, checkKnownOptions } from '../internal/validate.js';
import { WaitQueue } from '../internal/wait-queue.js';
import { LocalGuard, runHolding, type Guard } from './guard.js';

/** The most permits a semaphore may have (keeps `weight` arithmetic exact). */
export const MAX_PERMITS = 2 ** 30;

/**
 * Options of {@link Semaphore.acquire}.
 *
 * @example
 * ```ts
 * await sem.acquire({ weight: 2, timeout: 1000, signal: AbortSignal.timeout(5000) });
 * ```
 */
export interface SemaphoreAcquireOptions {
  /** Permits to take at once (default 1, at most the semaphore's `permits`). */
  weight?: number;
  /** Abort the wait: rejects with `signal.reason` and leaves the queue at once. */
  signal?: AbortSignal;
  /** Give up after this many ms with LockTimeoutError (`0`: only if free now). */
  timeout?: number;
}

/**
 * A counting semaphore with weights, FIFO fairness, per-call cancellation and
 * idempotent guards.
 *
 * Cancellation: a waiter whose `signal` aborts or whose `timeout` fires leaves
 * the queue at once and holds nothing; waiters behind it move up. A grant that
 * already happened is not undone by a later abort: release the guard.
 *
 * @example
 * ```ts
 * import { Semaphore } from 'deadbolt';
 * const downloads = new Semaphore(4);
 * await Promise.all(urls.map((url) => downloads.run(() => fetch(url))));
 * ```
 */
export class Semaphore {
  /** The total number of permits. */
  readonly permits: number;
  /** @internal */
  protected readonly queue: WaitQueue<LocalGuard>;

  /**
   * @param permits - an integer from 1 to 2^30.
   * @throws RangeError / TypeError (code `DEADBOLT_INVALID_ARGUMENT`) for anything else.
   */
  constructor(permits: number, label = 'Semaphore') {
    this.permits = checkCount(permits, 'permits', MAX_PERMITS);
    this.queue = new WaitQueue<LocalGuard>(this.permits, label);
  }

  /** Permits free right now. */
  get available(): number {
    return this.queue.available;
  }

  /** Requests waiting right now. */
  get waiting(): number {
    return this.queue.waiting;
  }

  /**
   * Wait for `weight` permits.
   *
   * Throws synchronously on bad options (including a weight above `permits`,
   * which could never be granted). Rejects with `signal.reason` if the signal is
   * already aborted (nothing is queued), with LockTimeoutError on timeout, with
   * ClosedError after `close()`.
   *
   * @example
   * ```ts
   * await using guard = await sem.acquire({ weight: 2, timeout: 500 });
   * ```
   */
  acquire(options?: SemaphoreAcquireOptions): Promise<Guard> {
    const { signal, timeout } = checkAcquireOptions(options, 'options', ['weight']);
    const weight = this.#weight(options);
    return this.queue.take(weight, new LocalGuard(this.queue, weight), signal, timeout);
  }

  /**
   * Take `weight` permits only if they are free now and nobody is queued ahead
   * (no barging). Returns the guard, or `undefined` when busy.
   *
   * @throws ClosedError after `close()`.
   * @example
   * ```ts
   * const guard = sem.tryAcquire();
   * if (!guard) return 'busy';
   * ```
   */
  tryAcquire(options?: { weight?: number }): Guard | undefined {
    if (options !== null && typeof options === 'object') checkKnownOptions(options, 'options', ['weight']);
    const weight = this.#weight(options);
    return this.queue.tryTake(weight) ? new LocalGuard(this.queue, weight) : undefined;
  }

  /**
   * Run `fn` holding `weight` permits; they are released however `fn` ends.
   *
   * @example
   * ```ts
   * const body = await sem.run(() => fetch(url).then((r) => r.text()), { timeout: 10_000 });
   * ```
   */
  run<R>(fn: (guard: Guard) => R | PromiseLike<R>, options?: SemaphoreAcquireOptions): Promise<Awaited<R>> {
    checkFunction(fn, 'fn');
    return runHolding(this.acquire(options), fn);
  }

  /**
   * Reject every waiter and every later acquire with ClosedError (its `cause`
   * is `reason`). Holders keep their grants; releasing them later is harmless.
   *
   * @example
   * ```ts
   * process.once('SIGTERM', () => sem.close(new Error('shutting down')));
   * ```
   */
  close(reason?: unknown): void {
    this.queue.close(reason);
  }

  #weight(options: { weight?: unknown } | undefined): number {
    return checkWeight(options, this.permits);
  }
}

/**
 * `options.weight` of an acquire on a semaphore of `permits` (default 1); a
 * weight above `permits` could never be granted, so it is refused.
 * @internal
 */
export function checkWeight(options: { weight?: unknown } | undefined, permits: number): number {
  const weight = options?.weight;
  if (weight === undefined) return 1;
  const checked = checkCount(weight, 'options.weight', MAX_PERMITS);
  if (checked > permits) {
    throw invalidRange('options.weight', `at most the semaphore's ${permits} permits (it could never be granted)`, weight);
  }
  return checked;
}
