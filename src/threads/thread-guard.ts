/**
 * The guard of a cross-thread primitive: one held request of the thread-lock table.
 *
 * @module
 */
import type { Guard } from '../local/guard.js';
import type { LockTable } from './lock-table.js';

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * A held grant of {@link ThreadMutex}, {@link ThreadSemaphore} or
 * {@link ThreadKeyedMutex}. Releasing is synchronous underneath (the returned
 * promise is already resolved) and idempotent.
 *
 * @example
 * ```ts
 * await using guard = await new ThreadMutex('jobs').acquire();
 * guard.released; // false until the block ends
 * ```
 */
export class ThreadGuard implements Guard {
  #table: LockTable | undefined;
  readonly #id: number;

  /** @internal */
  constructor(table: LockTable, id: number) {
    this.#table = table;
    this.#id = id;
  }

  get released(): boolean {
    return this.#table === undefined;
  }

  release(): Promise<void> {
    this.#table?.release(this.#id);
    this.#table = undefined;
    return RESOLVED;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}
