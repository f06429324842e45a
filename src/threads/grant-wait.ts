/**
 * Waiting for a queued request of the thread-lock table, cancellably: the
 * caller's `signal` or `timeout` withdraws the request at once, unless the grant
 * won the race, in which case the grant stands (the caller must release it).
 *
 * @internal
 * @module
 */
import { WaitSignal } from '../internal/wait-signal.js';
import type { LockTable } from './lock-table.js';

/**
 * Resolves when queued request `id` is granted; rejects with the abort reason
 * (or LockTimeoutError) once it was withdrawn.
 *
 * @internal
 * @example
 * ```ts
 * const id = table.request('m:jobs', 1, 1, How.Wait);
 * if (id < 0) await waitForGrant(table, -id, signal, 1000, 'thread mutex "jobs"');
 * ```
 */
export function waitForGrant(table: LockTable, id: number, signal: AbortSignal | undefined, timeout: number | undefined, label: string): Promise<void> {
  const granted = table.wait(id);
  if (signal === undefined && timeout === undefined) return granted;
  const wait = new WaitSignal([signal], timeout, label);
  return new Promise<void>((resolve, reject) => {
    const withdraw = () => {
      if (table.cancel(id)) reject(wait.signal.reason);
    };
    if (wait.signal.aborted) withdraw();
    else wait.signal.addEventListener('abort', withdraw, { once: true });
    void granted.then(() => {
      wait.signal.removeEventListener('abort', withdraw);
      wait.dispose();
      resolve();
    });
  });
}
