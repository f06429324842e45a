/**
 * ThreadMutex: `Mutex`'s cross-thread form (a ThreadSemaphore of one permit).
 *
 * @module
 */
import { ThreadSemaphore } from './thread-semaphore.js';

/**
 * A mutual-exclusion lock shared by the worker threads of one process: every
 * thread that says `new ThreadMutex('ledger')` excludes every other. FIFO across
 * threads; a thread that exits or is terminated while holding releases it.
 *
 * @example
 * ```ts
 * import { ThreadMutex } from 'deadbolt';
 * const ledger = new ThreadMutex('ledger'); // same line in every worker
 * await ledger.run(async () => {
 *   counter[0] = counter[0]! + 1; // a SharedArrayBuffer, no atomics needed
 * });
 * ```
 */
export class ThreadMutex extends ThreadSemaphore {
  constructor(name: string) {
    super(name, 1, 'm', 'ThreadMutex');
  }

  /**
   * Whether some thread holds the mutex now (a snapshot).
   *
   * @example
   * ```ts
   * if (mutex.locked) console.log('busy');
   * ```
   */
  get locked(): boolean {
    return this.state().holders > 0;
  }
}
