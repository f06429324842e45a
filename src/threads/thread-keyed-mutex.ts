/**
 * ThreadKeyedMutex: `KeyedMutex`'s cross-thread form, one mutex per string key.
 *
 * @module
 */
import type { AcquireOptions } from '../local/rw-lock.js';
import { runHolding, type Guard } from '../local/guard.js';
import { checkLockName } from '../internal/lock-name.js';
import { checkFunction } from '../internal/validate.js';
import { TableLock } from './thread-semaphore.js';

/**
 * One mutex per key, shared by the worker threads of one process: threads that
 * use the same `namespace` and key exclude each other. An entry exists only
 * while held or waited for (a million distinct keys leave nothing behind).
 *
 * @example
 * ```ts
 * import { ThreadKeyedMutex } from 'deadbolt';
 * const users = new ThreadKeyedMutex('users'); // same line in every worker
 * await users.run(`user:${id}`, () => updateUser(id));
 * ```
 */
export class ThreadKeyedMutex {
  /** The namespace every thread uses for these keys. */
  readonly namespace: string;
  readonly #lock: TableLock;

  constructor(namespace: string) {
    this.namespace = checkLockName(namespace, 'namespace');
    this.#lock = new TableLock(1, `ThreadKeyedMutex "${namespace}"`);
  }

  /**
   * Wait for `key`'s mutex (see `KeyedMutex.acquire`).
   *
   * @example
   * ```ts
   * await using guard = await users.acquire('42', { timeout: 1000 });
   * ```
   */
  acquire(key: string, options?: Omit<AcquireOptions, 'mode'>): Promise<Guard> {
    return this.#lock.acquire(this.#key(key), 1, options);
  }

  /**
   * `key`'s mutex if free now, in every thread; else `undefined`.
   *
   * @example
   * ```ts
   * const guard = users.tryAcquire('42');
   * ```
   */
  tryAcquire(key: string): Guard | undefined {
    return this.#lock.tryAcquire(this.#key(key), 1);
  }

  /**
   * Run `fn` holding `key`'s mutex.
   *
   * @example
   * ```ts
   * await users.run('42', () => save());
   * ```
   */
  run<R>(key: string, fn: (guard: Guard) => R | PromiseLike<R>, options?: Omit<AcquireOptions, 'mode'>): Promise<Awaited<R>> {
    checkFunction(fn, 'fn');
    return runHolding(this.acquire(key, options), fn);
  }

  /**
   * Whether some thread holds `key`'s mutex now (a snapshot).
   *
   * @example
   * ```ts
   * users.isLocked('42');
   * ```
   */
  isLocked(key: string): boolean {
    return this.#lock.state(this.#key(key)).holders > 0;
  }

  #key(key: string): string {
    // NUL cannot occur in a checked name, so namespace and key never run into each other.
    return `k:${this.namespace}\u0000${checkLockName(key, 'key')}`;
  }
}
