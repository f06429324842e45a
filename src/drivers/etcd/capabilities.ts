/**
 * What the etcd driver guarantees, and why.
 *
 * @internal
 * @module
 */
import type { Capabilities } from '../../distributed/driver.js';
import { MIN_TTL_MS } from './session.js';

/**
 * Beyond the TTL, the most it takes for a dead holder's lock to pass on:
 * etcd 3.4's lessor looks for expired leases every 500 ms and revokes them
 * through raft, then the waiter's watch fires and it re-checks (a few ms).
 * Measured (bench/etcd, scenario d, 20 leases on a loaded 2-core machine):
 * key deleted 240–270 ms (median) and at most 0.55 s after send time of the
 * last keepalive + TTL; the SIGKILL test sees a waiter granted ≤ TTL + 0.15 s
 * after the kill. 1 s leaves room for a busy etcd.
 */
export const RECOVERY_BOUND_MS = 1_000;

/**
 * What the etcd driver guarantees.
 *
 * @example
 * ```ts
 * ETCD_CAPABILITIES.durableTokens; // true: tokens are etcd revisions
 * ```
 */
export const ETCD_CAPABILITIES: Capabilities = Object.freeze({
  shared: true,
  durableTokens: true,
  serverLease: true,
  waitNotifications: true,
  breakable: true,
  recipes: true,
  minTtlMs: MIN_TTL_MS,
  recoveryBoundMs: RECOVERY_BOUND_MS,
  notes: Object.freeze([
    'Fencing tokens are etcd revisions: strictly increasing per name, with gaps, shared by the whole cluster; ' +
      'they survive restarts as long as the members keep their data directories.',
    'Lease TTLs are whole seconds: a ttl is rounded up to the next second.',
    'After an etcd leader change, etcd renews every lease for a full TTL: a dead holder may then keep its lock ' +
      'for up to twice the TTL.',
    'Predecessor reports: "expired" can also mean the predecessor released and closed its session at once.',
  ]) as string[],
});

/**
 * What the etcd driver guarantees under the `concurrency` layout (layout.ts,
 * Go's Mutex keys): no shared mode and no recipes, because Go's recipe has no
 * shared claims and its empty value has no room for recipe data.
 *
 * @example
 * ```ts
 * ETCD_CONCURRENCY_CAPABILITIES.shared; // false: acquire(…, { mode: 'shared' }) is refused with UnsupportedError
 * ```
 */
export const ETCD_CONCURRENCY_CAPABILITIES: Capabilities = Object.freeze({
  ...ETCD_CAPABILITIES,
  shared: false,
  recipes: false,
  notes: Object.freeze([
    ...ETCD_CAPABILITIES.notes,
    'layout=concurrency: claims are Go clientv3 concurrency.Mutex keys (<name>/<lease hex>, as etcdctl lock writes them); ' +
      'no shared mode (Go has none), no recipes, placeholder owners in listings (the value is empty).',
  ]) as string[],
});
