/**
 * ThreadSemaphore: `Semaphore`'s cross-thread form. Every worker thread of the
 * process that names the same semaphore shares its permits (the addon's
 * process-wide table, src/threads/lock-table.ts); strict FIFO across threads;
 * a thread that exits or is terminated gives back what it held.
 *
 * @module
 */
import { checkLockName } from '../internal/lock-name.js';
import { checkAcquireOptions, checkCount, checkFunction } from '../internal/validate.js';
import { runHolding, type Guard } from '../local/guard.js';
import { MAX_PERMITS, checkWeight, type SemaphoreAcquireOptions } from '../local/semaphore.js';
import { grantOf } from './grant-wait.js';
import { How, lockTable, type LockTable } from './lock-table.js';
import { ThreadGuard } from './thread-guard.js';

/**
 * The shared engine of the cross-thread primitives: one key of the table with a capacity.
 * @internal
 */
export class TableLock {
  readonly #table: LockTable = lockTable();
  readonly #capacity: number;
  readonly #label: string;

  constructor(capacity: number, label: string) {
    this.#capacity = capacity;
    this.#label = label;
  }

  acquire(key: string, weight: number, options: unknown): Promise<Guard> {
    const { signal, timeout } = checkAcquireOptions(options);
    if (signal?.aborted) return Promise.reject(signal.reason);
    const id = this.#table.request(key, this.#capacity, weight, How.Wait);
    if (id > 0) return Promise.resolve(new ThreadGuard(this.#table, id));
    return grantOf(this.#table, -id, signal, timeout, this.#label).then(() => new ThreadGuard(this.#table, -id));
  }

  tryAcquire(key: string, weight: number): Guard | undefined {
    const id = this.#table.request(key, this.#capacity, weight, How.IfAvailable);
    return id > 0 ? new ThreadGuard(this.#table, id) : undefined;
  }

  /** Held and waiting requests of `key`, across every thread. */
  state(key: string): { holders: number; waiting: number } {
    let holders = 0;
    let waiting = 0;
    for (const r of this.#table.query(key)) {
      if (r.key !== key) continue;
      if (r.held) holders++;
      else waiting++;
    }
    return { holders, waiting };
  }
}

/**
 * A counting semaphore shared by the worker threads of one process: the same
 * `name` and `permits` in every thread mean the same permits.
 *
 * Cancellation: a waiter whose `signal` aborts or whose `timeout` fires leaves
 * the queue at once and holds nothing; a grant that already happened stands.
 *
 * @example
 * ```ts
 * import { ThreadSemaphore } from 'deadbolt';
 * // in every worker of a pool: at most 4 downloads at a time, process-wide
 * const downloads = new ThreadSemaphore('downloads', 4);
 * await downloads.run(() => fetch(url));
 * ```
 */
export class ThreadSemaphore {
  /** The name every thread uses for this semaphore. */
  readonly name: string;
  /** The total number of permits (every thread must say the same). */
  readonly permits: number;
  readonly #lock: TableLock;
  readonly #key: string;

  /**
   * @param name - shared by every thread that means this semaphore.
   * @param permits - an integer from 1 to 2^30; a thread naming it with other permits gets a RangeError.
   */
  constructor(name: string, permits: number, realm = 's', label = 'ThreadSemaphore') {
    this.name = checkLockName(name);
    this.permits = checkCount(permits, 'permits', MAX_PERMITS);
    this.#key = `${realm}:${name}`;
    this.#lock = new TableLock(this.permits, `${label} "${name}"`);
  }

  /**
   * Wait for `weight` permits (see `Semaphore.acquire`).
   *
   * @example
   * ```ts
   * await using guard = await sem.acquire({ weight: 2, timeout: 500 });
   * ```
   */
  acquire(options?: SemaphoreAcquireOptions): Promise<Guard> {
    return this.#lock.acquire(this.#key, this.#weight(options), options);
  }

  /**
   * Take `weight` permits only if free now and nobody is queued, in any thread.
   *
   * @example
   * ```ts
   * const guard = sem.tryAcquire();
   * if (!guard) return 'busy';
   * ```
   */
  tryAcquire(options?: { weight?: number }): Guard | undefined {
    return this.#lock.tryAcquire(this.#key, this.#weight(options));
  }

  /**
   * Run `fn` holding `weight` permits; released however `fn` ends.
   *
   * @example
   * ```ts
   * await sem.run(() => work(), { timeout: 10_000 });
   * ```
   */
  run<R>(fn: (guard: Guard) => R | PromiseLike<R>, options?: SemaphoreAcquireOptions): Promise<Awaited<R>> {
    checkFunction(fn, 'fn');
    return runHolding(this.acquire(options), fn);
  }

  /**
   * Holders and waiters right now, across every thread (a snapshot).
   *
   * @example
   * ```ts
   * console.log(`${sem.state().waiting} requests queued`);
   * ```
   */
  state(): { holders: number; waiting: number } {
    return this.#lock.state(this.#key);
  }

  #weight(options: { weight?: unknown } | undefined): number {
    return checkWeight(options, this.permits);
  }
}
