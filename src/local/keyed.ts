/**
 * Keyed locks: one lock per key, created on first use and dropped as soon as
 * nobody holds or waits for it, so a million distinct keys leave nothing behind.
 *
 * Each key has its own FIFO wait queue (see internal/wait-queue.ts); the map
 * entry is removed by the queue's idle hook, which fires after the last release
 * and after the last waiter gives up (abort or timeout).
 *
 * @module
 */
import { checkAcquireOptions, checkFunction, checkModeOptions } from '../internal/validate.js';
import { WaitQueue } from '../internal/wait-queue.js';
import { ClosedError, invalidType } from '../errors.js';
import { LocalGuard, runHolding, type Guard } from './guard.js';
import { weightOf, type AcquireOptions } from './rw-lock.js';
import { MAX_PERMITS } from './semaphore.js';

/**
 * One key's queue. It knows its key and map, so dropping it when idle needs no closure,
 * and it builds its error label only if an error is actually made.
 */
class KeyedQueue<K> extends WaitQueue<LocalGuard> {
  constructor(
    readonly owner: KeyedQueues<K>,
    readonly key: K,
  ) {
    super(MAX_PERMITS, owner.kind);
  }

  override get label(): string {
    return `${this.owner.kind} key ${String(this.key)}`;
  }

  protected override onIdle(): void {
    // Only drop the entry we created: a new one may already stand under this key.
    const entries = this.owner.entries;
    if (entries.get(this.key) === this) entries.delete(this.key);
  }
}

/** The per-key queues and their lifetime, shared by KeyedMutex and KeyedRWLock. */
class KeyedQueues<K> {
  readonly entries = new Map<K, KeyedQueue<K>>();
  closed: ClosedError | undefined;

  constructor(readonly kind: string) {}

  queue(key: K): KeyedQueue<K> {
    let queue = this.entries.get(key);
    if (queue === undefined) {
      queue = new KeyedQueue<K>(this, key);
      this.entries.set(key, queue);
    }
    return queue;
  }

  acquire(key: K, weight: number, signal: AbortSignal | undefined, timeout: number | undefined): Promise<Guard> {
    if (this.closed) return Promise.reject(this.closed);
    if (signal?.aborted) return Promise.reject(signal.reason);
    const queue = this.queue(key);
    const promise = queue.take(weight, new LocalGuard(queue, weight), signal, timeout);
    // A zero timeout that failed at once never queued: drop the entry it created.
    if (queue.idle) this.entries.delete(key);
    return promise;
  }

  tryAcquire(key: K, weight: number): Guard | undefined {
    if (this.closed) throw this.closed;
    const queue = this.queue(key);
    if (queue.tryTake(weight)) return new LocalGuard(queue, weight);
    if (queue.idle) this.entries.delete(key);
    return undefined;
  }

  close(reason: unknown): void {
    if (this.closed) return;
    this.closed = new ClosedError(`${this.kind} was closed`, reason === undefined ? undefined : { cause: reason });
    for (const queue of [...this.entries.values()]) queue.close(reason);
  }

  state(key: K): { mode: 'free' | 'shared' | 'exclusive'; holders: number; waiting: number } {
    const queue = this.entries.get(key);
    if (queue === undefined) return { mode: 'free', holders: 0, waiting: 0 };
    const held = MAX_PERMITS - queue.available;
    const waiting = queue.waiting;
    if (held === 0) return { mode: 'free', holders: 0, waiting };
    if (held === MAX_PERMITS) return { mode: 'exclusive', holders: 1, waiting };
    return { mode: 'shared', holders: held, waiting };
  }
}

function checkKey(key: unknown): void {
  if (key === undefined) throw invalidType('key', 'defined (a string, number or object)', key);
}

/**
 * A mutex per key. Entries exist only while a key is held or waited for.
 *
 * Cancellation: as for Mutex; a key whose last waiter gives up is dropped.
 *
 * @example
 * ```ts
 * import { KeyedMutex } from 'deadbolt';
 * const perUser = new KeyedMutex<string>();
 * await perUser.run(userId, () => updateBalance(userId, +10));
 * ```
 */
export class KeyedMutex<K = string> {
  readonly #queues = new KeyedQueues<K>('KeyedMutex');

  /** Keys currently held or waited for. */
  get size(): number {
    return this.#queues.entries.size;
  }

  /**
   * Wait for the lock on `key`.
   *
   * @example
   * ```ts
   * await using guard = await perUser.acquire('alice', { timeout: 1000 });
   * ```
   */
  acquire(key: K, options?: Omit<AcquireOptions, 'mode'>): Promise<Guard> {
    checkKey(key);
    const { mode, signal, timeout } = checkAcquireOptions(options);
    if (mode !== 'exclusive') throw invalidType('options.mode', `'exclusive' for a KeyedMutex (use KeyedRWLock for shared)`, mode);
    return this.#queues.acquire(key, MAX_PERMITS, signal, timeout);
  }

  /**
   * Take the lock on `key` if it is free now, else `undefined`.
   *
   * @example
   * ```ts
   * const guard = perUser.tryAcquire('alice');
   * ```
   */
  tryAcquire(key: K): Guard | undefined {
    checkKey(key);
    return this.#queues.tryAcquire(key, MAX_PERMITS);
  }

  /**
   * Run `fn` holding the lock on `key`.
   *
   * @example
   * ```ts
   * await perUser.run('alice', () => save('alice'));
   * ```
   */
  run<R>(key: K, fn: (guard: Guard) => R | PromiseLike<R>, options?: Omit<AcquireOptions, 'mode'>): Promise<Awaited<R>> {
    checkFunction(fn, 'fn');
    return runHolding(this.acquire(key, options), fn);
  }

  /**
   * Whether `key` is held now.
   *
   * @example
   * ```ts
   * perUser.isLocked('alice'); // false
   * ```
   */
  isLocked(key: K): boolean {
    return this.#queues.state(key).mode !== 'free';
  }

  /**
   * Reject every waiter of every key, and every later acquire, with ClosedError.
   *
   * @example
   * ```ts
   * perUser.close();
   * ```
   */
  close(reason?: unknown): void {
    this.#queues.close(reason);
  }
}

/**
 * A reader-writer lock per key (writers not starved). Entries exist only while
 * a key is held or waited for. The lock directory queues its same-process
 * callers here before touching the kernel.
 *
 * @example
 * ```ts
 * import { KeyedRWLock } from 'deadbolt';
 * const tables = new KeyedRWLock<string>();
 * await tables.run('users', () => scan('users'), { mode: 'shared' });
 * ```
 */
export class KeyedRWLock<K = string> {
  readonly #queues = new KeyedQueues<K>('KeyedRWLock');

  /** Keys currently held or waited for. */
  get size(): number {
    return this.#queues.entries.size;
  }

  /**
   * Wait for `key` in `options.mode` (default exclusive).
   *
   * @example
   * ```ts
   * await using g = await tables.acquire('users', { mode: 'shared' });
   * ```
   */
  acquire(key: K, options?: AcquireOptions): Promise<Guard> {
    checkKey(key);
    const { mode, signal, timeout } = checkAcquireOptions(options);
    return this.#queues.acquire(key, weightOf(mode), signal, timeout);
  }

  /**
   * Take `key` in `options.mode` now if possible without jumping the queue.
   *
   * @example
   * ```ts
   * const g = tables.tryAcquire('users', { mode: 'shared' });
   * ```
   */
  tryAcquire(key: K, options?: { mode?: 'exclusive' | 'shared' }): Guard | undefined {
    checkKey(key);
    return this.#queues.tryAcquire(key, weightOf(checkModeOptions(options)));
  }

  /**
   * Run `fn` holding `key` in `options.mode`.
   *
   * @example
   * ```ts
   * await tables.run('users', () => migrate('users'));
   * ```
   */
  run<R>(key: K, fn: (guard: Guard) => R | PromiseLike<R>, options?: AcquireOptions): Promise<Awaited<R>> {
    checkFunction(fn, 'fn');
    return runHolding(this.acquire(key, options), fn);
  }

  /**
   * The current holders and waiters of `key`.
   *
   * @example
   * ```ts
   * tables.state('users'); // { mode: 'shared', holders: 2, waiting: 1 }
   * ```
   */
  state(key: K): { mode: 'free' | 'shared' | 'exclusive'; holders: number; waiting: number } {
    return this.#queues.state(key);
  }

  /**
   * Reject every waiter of every key, and every later acquire, with ClosedError.
   *
   * @example
   * ```ts
   * tables.close();
   * ```
   */
  close(reason?: unknown): void {
    this.#queues.close(reason);
  }
}
