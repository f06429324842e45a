/**
 * RWLock: many readers or one writer, over the same FIFO wait queue.
 *
 * How: the queue has 2^30 permits; a reader takes 1, a writer takes all of them.
 * Because the queue is strictly FIFO, a writer at the head makes every later
 * reader wait behind it, so a stream of readers cannot starve a writer, and the
 * readers queued after a writer are all admitted together when it releases.
 *
 * @module
 */
import { checkAcquireOptions, checkFunction, checkModeOptions } from '../internal/validate.js';
import { WaitQueue } from '../internal/wait-queue.js';
import { LocalGuard, runHolding, type Guard } from './guard.js';
import { MAX_PERMITS } from './semaphore.js';

/**
 * The options every acquire accepts.
 *
 * @example
 * ```ts
 * const options: AcquireOptions = { mode: 'shared', timeout: 1000 };
 * ```
 */
export interface AcquireOptions {
  /** `'exclusive'` (default, one holder) or `'shared'` (many holders, no exclusive one). */
  mode?: 'exclusive' | 'shared';
  /** Abort the wait: rejects with `signal.reason` and leaves the queue at once. */
  signal?: AbortSignal;
  /** Give up after this many ms with LockTimeoutError (`0`: only if free now). */
  timeout?: number;
}

/** Permits a request of `mode` takes. @internal */
export function weightOf(mode: 'exclusive' | 'shared'): number {
  return mode === 'shared' ? 1 : MAX_PERMITS;
}

/**
 * A fair reader-writer lock for async tasks of one process. Writers are not
 * starved: a queued writer holds back readers that arrive after it.
 *
 * Cancellation: as for Mutex; a cancelled writer at the head lets the readers
 * queued behind it in at once.
 *
 * @example
 * ```ts
 * import { RWLock } from 'deadbolt';
 * const lock = new RWLock();
 * const config = await lock.run(() => readConfig(), { mode: 'shared' });
 * await lock.run(() => writeConfig(next)); // exclusive
 * ```
 */
export class RWLock {
  readonly #queue = new WaitQueue<LocalGuard>(MAX_PERMITS, 'RWLock');

  /** Requests waiting right now. */
  get waiting(): number {
    return this.#queue.waiting;
  }

  /**
   * The current holders: `'free'`, `'shared'` (with how many readers) or `'exclusive'`.
   *
   * @example
   * ```ts
   * lock.state; // { mode: 'shared', holders: 3 }
   * ```
   */
  get state(): { mode: 'free' | 'shared' | 'exclusive'; holders: number } {
    const held = MAX_PERMITS - this.#queue.available;
    if (held === 0) return { mode: 'free', holders: 0 };
    if (held === MAX_PERMITS) return { mode: 'exclusive', holders: 1 };
    return { mode: 'shared', holders: held };
  }

  /**
   * Wait for the lock in `mode` (default exclusive).
   *
   * @example
   * ```ts
   * await using reading = await lock.acquire({ mode: 'shared', signal });
   * ```
   */
  acquire(options?: AcquireOptions): Promise<Guard> {
    const { mode, signal, timeout } = checkAcquireOptions(options);
    const weight = weightOf(mode);
    return this.#queue.take(weight, new LocalGuard(this.#queue, weight), signal, timeout);
  }

  /**
   * Take the lock now if that is possible without jumping the queue.
   *
   * @example
   * ```ts
   * const guard = lock.tryAcquire({ mode: 'shared' });
   * ```
   */
  tryAcquire(options?: { mode?: 'exclusive' | 'shared' }): Guard | undefined {
    const weight = weightOf(checkModeOptions(options));
    return this.#queue.tryTake(weight) ? new LocalGuard(this.#queue, weight) : undefined;
  }

  /**
   * Run `fn` holding the lock in `options.mode`.
   *
   * @example
   * ```ts
   * await lock.run(() => rebuildIndex(), { timeout: 30_000 });
   * ```
   */
  run<R>(fn: (guard: Guard) => R | PromiseLike<R>, options?: AcquireOptions): Promise<Awaited<R>> {
    checkFunction(fn, 'fn');
    return runHolding(this.acquire(options), fn);
  }

  /**
   * Reject every waiter and later acquire with ClosedError.
   *
   * @example
   * ```ts
   * lock.close(new Error('shutting down'));
   * ```
   */
  close(reason?: unknown): void {
    this.#queue.close(reason);
  }
}
