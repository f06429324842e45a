/**
 * `deadbolt/web-locks`: the W3C Web Locks API (`request`, `query`) over the
 * worker threads of one process, the processes of one host (a lock directory)
 * and hosts (a Coordinator). docs/web-locks.md says what each scope does and
 * where it differs from the specification and the platform.
 *
 * @example
 * ```ts
 * import { LockManager, installNavigatorLocks } from 'deadbolt/web-locks';
 * installNavigatorLocks(); // navigator.locks on Node 20/22, shared by every worker thread
 * const fleet = LockManager.forCoordinator(await connect('redis://10.0.0.7:6379'));
 * await fleet.request('nightly-report', async (lock) => build());
 * ```
 *
 * @module
 */
export { LockManager, type LockOptions, type LockGrantedCallback, type StealOptions, type DirectoryStealOptions } from './lock-manager.js';
export { Lock, FencedLock, type LockMode } from './lock.js';
export type { LockInfo, LockManagerSnapshot } from './scope.js';
export { installNavigatorLocks } from './navigator.js';
