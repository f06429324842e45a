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
 * Call `onGrant` when queued request `id` is granted, or `onAbort(reason)` once
 * it was withdrawn because `signal` aborted or `timeout` ran out (LockTimeoutError).
 * Call once, right after the request was queued.
 *
 * @internal
 * @example
 * ```ts
 * const id = table.request('m:jobs', 1, 1, How.Wait);
 * if (id < 0) waitForGrant(table, -id, signal, 1000, 'thread mutex "jobs"', granted, failed);
 * ```
 */
export function waitForGrant(
  table: LockTable,
  id: number,
  signal: AbortSignal | undefined,
  timeout: number | undefined,
  label: string,
  onGrant: () => void,
  onAbort: (reason: unknown) => void,
): void {
  if (signal === undefined && timeout === undefined) {
    table.wait(id, onGrant);
    return;
  }
  const wait = new WaitSignal([signal], timeout, label);
  const withdraw = () => {
    if (table.cancel(id)) onAbort(wait.signal.reason);
  };
  table.wait(id, () => {
    wait.signal.removeEventListener('abort', withdraw);
    wait.dispose();
    onGrant();
  });
  if (wait.signal.aborted) withdraw();
  else wait.signal.addEventListener('abort', withdraw, { once: true });
}

/**
 * {@link waitForGrant} as a promise.
 *
 * @internal
 * @example
 * ```ts
 * if (id < 0) await grantOf(table, -id, signal, undefined, 'lock "jobs"');
 * ```
 */
export function grantOf(table: LockTable, id: number, signal: AbortSignal | undefined, timeout: number | undefined, label: string): Promise<void> {
  return new Promise<void>((resolve, reject) => waitForGrant(table, id, signal, timeout, label, resolve, reject));
}
