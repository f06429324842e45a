/**
 * What the memory engine guarantees, for `connect(url, { require })` and
 * `coordinator.capabilities`.
 *
 * @module
 */
import type { Capabilities } from '../../distributed/driver.js';

/**
 * What the memory driver guarantees.
 *
 * @example
 * ```ts
 * memoryCapabilities.shared; // true
 * ```
 */
export const memoryCapabilities: Readonly<Capabilities> = Object.freeze({
  shared: true,
  durableTokens: false,
  serverLease: true,
  waitNotifications: true,
  breakable: true,
  recipes: true,
  minTtlMs: 20,
  recoveryBoundMs: 0,
  notes: Object.freeze([
    'in-process engine: only coordinators of this process share its locks',
    'tokens restart when the process does (durableTokens: false)',
  ]) as string[],
});
