/**
 * `navigator.locks` for Node 20 and 22 (and 24, where Node's own is
 * experimental): the thread scope's LockManager, installed where the platform has none.
 *
 * @module
 */
import { LockManager } from './lock-manager.js';

/**
 * Make `navigator.locks` the cross-thread {@link LockManager} (call it in every
 * thread that uses it, e.g. at the top of the worker's script). Leaves an
 * existing `navigator.locks` alone unless `force` is true; returns the manager
 * now in place. Note that Node 24's own and deadbolt's do not coordinate with
 * each other: pick one for the whole process.
 *
 * @example
 * ```ts
 * import { installNavigatorLocks } from 'deadbolt/web-locks';
 * installNavigatorLocks();
 * await navigator.locks.request('jobs', () => runJob());
 * ```
 */
export function installNavigatorLocks(options: { force?: boolean } = {}): LockManager | object {
  const g = globalThis as { navigator?: { locks?: object } };
  const existing = g.navigator?.locks;
  if (existing !== undefined && options.force !== true) return existing;
  const locks = LockManager.forThreads();
  if (g.navigator === undefined) {
    Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true, writable: true, enumerable: false });
  }
  Object.defineProperty(g.navigator, 'locks', { value: locks, configurable: true, enumerable: true });
  return locks;
}
