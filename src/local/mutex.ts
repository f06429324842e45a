/**
 * Mutex: one holder at a time, FIFO, cancellable waits, idempotent guards.
 *
 * @module
 */
import { Semaphore } from './semaphore.js';

/**
 * A mutual-exclusion lock for async tasks of one process: a `Semaphore(1)`.
 *
 * Cancellation: a waiter whose `signal` aborts or whose `timeout` fires leaves
 * the queue at once and holds nothing.
 *
 * @example
 * ```ts
 * import { Mutex } from 'deadbolt';
 * const mutex = new Mutex();
 * await mutex.run(async () => {
 *   const n = await readCounter();
 *   await writeCounter(n + 1);
 * });
 * ```
 */
export class Mutex extends Semaphore {
  constructor() {
    super(1, 'Mutex');
  }

  /**
   * Whether someone holds the mutex now.
   *
   * @example
   * ```ts
   * if (mutex.locked) console.log(`${mutex.waiting} tasks queued`);
   * ```
   */
  get locked(): boolean {
    return this.available === 0;
  }
}
