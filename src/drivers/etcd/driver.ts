/**
 * The etcd driver: sessions are leases, locks are claim keys ordered by
 * revision (lock.ts), waiters are woken by watches. This file wires the pieces
 * to the Driver contract and states what the driver guarantees.
 *
 * @internal
 * @module
 */
import type {
  BreakRecord,
  Capabilities,
  Driver,
  DriverLock,
  DriverSession,
  LockRequest,
  LockSurvey,
} from '../../distributed/driver.js';
import type { LockInfo, LockOwner } from '../../contracts/fenced-guard.js';
import { breakLock } from './break.js';
import type { EtcdClient } from './client.js';
import { listHolders, nameHolders, surveyLocks } from './holders.js';
import { KeyLayout, encodeName } from './keys.js';
import { acquireLock, type LockContext } from './lock.js';
import { Reaper } from './reaper.js';
import { EtcdSession, MIN_TTL_MS } from './session.js';
import { Watches } from './watch.js';

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
 * The Driver for `etcd://` URLs.
 *
 * @example
 * ```ts
 * const driver = new EtcdDriver(client, 'deadbolt');
 * const session = await driver.openSession(10_000, owner);
 * const lock = await driver.acquire({ session, name: 'jobs', mode: 'exclusive', owner }, signal);
 * ```
 */
export class EtcdDriver implements Driver {
  readonly backend = 'etcd';
  readonly capabilities = ETCD_CAPABILITIES;
  readonly #ctx: LockContext;

  constructor(client: EtcdClient, namespace: string) {
    const keys = new KeyLayout(namespace);
    this.#ctx = {
      client,
      keys,
      watches: new Watches(client.etcd, keys.anchor),
      reaper: new Reaper(client),
    };
  }

  /** Open watches (for tests: nothing should stay behind). */
  get openWatches(): number {
    return this.#ctx.watches.size;
  }

  openSession(ttlMs: number, _owner: LockOwner): Promise<DriverSession> {
    return EtcdSession.grant(this.#ctx.client, ttlMs);
  }

  async acquire(request: LockRequest, signal: AbortSignal): Promise<DriverLock> {
    encodeName(request.name);
    return (await acquireLock(this.#ctx, request, signal, true))!;
  }

  async tryAcquire(request: LockRequest): Promise<DriverLock | undefined> {
    encodeName(request.name);
    return acquireLock(this.#ctx, request, undefined, false);
  }

  list(prefix: string): Promise<LockInfo[]> {
    return listHolders(this.#ctx, prefix);
  }

  holders(name: string): Promise<LockInfo[]> {
    return nameHolders(this.#ctx, name);
  }

  survey(prefix: string): Promise<LockSurvey[]> {
    return surveyLocks(this.#ctx, prefix);
  }

  break(name: string, record: BreakRecord): Promise<LockInfo[]> {
    return breakLock(this.#ctx, name, record);
  }

  async close(): Promise<void> {
    this.#ctx.watches.closeAll();
    this.#ctx.reaper.close();
    this.#ctx.client.close();
  }
}
