/**
 * The memory engine's store: what etcd or ZooKeeper would be, in this process.
 * Every coordinator connected to `memory://<name>` shares the space of that
 * name. It keeps data and leases only; the recipe core (src/core/) decides who
 * holds what, from the claims it reads here (engine.ts).
 *
 * Protocol
 * - Leases expire on the space's clock `ttl` after their last renewal; expiry
 *   deletes every claim of the lease (holders learn `'expired'`).
 * - Each key has a list of claims in the order the space accepted them, from
 *   one counter per space: a claim's order is also its token, so each is
 *   greater than every earlier claim of every key.
 * - Deleting a claim records on it how it went (released, expired, broken),
 *   for its owner's loss report. A holder's departure is also kept per key:
 *   the next holder's predecessor report, and the key's last break record.
 * - Every change of a key's claims (added, deleted, data replaced) is told to
 *   the key's name watchers, once each (watches are one-shot, as ZooKeeper's).
 * - Test hooks: `pause(sessionId)` cuts a session off from the engine (its
 *   keepalives and notifications wait until `resume`), `expire(sessionId)`
 *   expires its lease now.
 *
 * @module
 */
import { SessionLostError } from '../../errors.js';
import type { Clock } from '../../distributed/clock.js';
import type { PredecessorReport } from '../../distributed/driver.js';
import type { LockOwner } from '../../contracts/lock-info.js';
import { blocker } from '../../core/blocker.js';
import type { ClaimMode } from '../../core/engine.js';
import { MemoryClaim } from './claim.js';
import { Lease } from './lease.js';

/**
 * One named in-process coordination engine. Get it with `memorySpace(name)`.
 *
 * @example
 * ```ts
 * const space = memorySpace('tests');
 * space.pause(coordinator.session.id); // its keepalives stop reaching the engine
 * ```
 */
export class MemorySpace {
  /** Claims by key, oldest first; a key without claims has no entry. */
  readonly #queues = new Map<string, MemoryClaim[]>();
  readonly #leases = new Map<string, Lease>();
  /** How the last holder of each key went. */
  readonly #departures = new Map<string, PredecessorReport>();
  /** Leases that ended while paused, so `resume` can still deliver their news. */
  readonly #dead = new Map<string, Lease>();
  /** One-shot watchers of each key's claims. */
  readonly #nameWatchers = new Map<string, Set<() => void>>();
  #order = 0n;
  #leaseIds = 0;

  constructor(
    readonly name: string,
    readonly clock: Clock,
  ) {}

  /** Grant a lease. @internal */
  grantLease(ttlMs: number): Lease {
    const lease = new Lease(`${this.name}-${++this.#leaseIds}`, ttlMs, this.clock.now());
    this.#leases.set(lease.id, lease);
    this.#armExpiry(lease);
    return lease;
  }

  /** Renew a lease from now, as the engine does on receiving a keepalive. @internal */
  renew(lease: Lease): boolean {
    if (!lease.alive) return false;
    lease.expiresAt = this.clock.now() + lease.ttlMs;
    this.#armExpiry(lease);
    return true;
  }

  /** End a lease and delete its claims. @internal */
  endLease(lease: Lease, outcome: 'released' | 'expired'): void {
    if (!lease.alive) return;
    lease.alive = false;
    this.clock.clearTimeout(lease.timer);
    this.#leases.delete(lease.id);
    for (const claim of [...lease.claims.values()]) this.remove(claim, { outcome, token: claim.token });
    if (outcome === 'released') return;
    const gone = new SessionLostError(`memory lease ${lease.id} expired`);
    // after its claims' deletions: each held lock is lost as 'expired' before the session's loss says only 'session'
    lease.deliver(() => lease.onLost?.(gone));
  }

  /** Append a claim to `key`'s queue, on `lease`. @internal */
  add(key: string, id: string, lease: Lease, mode: ClaimMode, owner: LockOwner, data?: string): MemoryClaim {
    const claim = new MemoryClaim(key, id, lease, ++this.#order, mode, owner, this.clock.now(), this.#departures.get(key), data);
    const queue = this.#queues.get(key);
    if (queue === undefined) this.#queues.set(key, [claim]);
    else queue.push(claim);
    lease.claims.set(id, claim);
    this.#changed(key);
    return claim;
  }

  /** Replace `claim`'s data if it is still stored. @internal */
  setData(claim: MemoryClaim, data: string): boolean {
    if (claim.gone) return false;
    claim.data = data;
    this.#changed(claim.key);
    return true;
  }

  /** Call `onChange` once, on the next change of `key`'s claims; the returned function cancels. @internal */
  watchKey(key: string, onChange: () => void): () => void {
    let watchers = this.#nameWatchers.get(key);
    if (watchers === undefined) this.#nameWatchers.set(key, (watchers = new Set()));
    const watcher = (): void => onChange();
    watchers.add(watcher);
    return () => {
      watchers.delete(watcher);
      if (watchers.size === 0 && this.#nameWatchers.get(key) === watchers) this.#nameWatchers.delete(key);
    };
  }

  /** The claims of `key`, oldest first. @internal */
  claims(key: string): readonly MemoryClaim[] {
    return this.#queues.get(key) ?? [];
  }

  /** Every key with claims. @internal */
  keys(): IterableIterator<string> {
    return this.#queues.keys();
  }

  /** Every key whose last holder's departure is kept. @internal */
  departedKeys(): IterableIterator<string> {
    return this.#departures.keys();
  }

  /** How the last holder of `key` went. @internal */
  departure(key: string): PredecessorReport | undefined {
    return this.#departures.get(key);
  }

  /** Delete `claim` if it is still stored (conditional: a claim object is one token), recording how it went. @internal */
  remove(claim: MemoryClaim, report: PredecessorReport): void {
    const queue = this.#queues.get(claim.key);
    const at = queue?.indexOf(claim) ?? -1;
    if (queue === undefined || at < 0) return;
    if (blocker(queue, claim) === undefined) this.#departures.set(claim.key, report); // it held the key
    queue.splice(at, 1);
    if (queue.length === 0) this.#queues.delete(claim.key);
    claim.lease.claims.delete(claim.id);
    claim.depart(report);
    this.#changed(claim.key);
  }

  /**
   * Test hook: cut the session `sessionId` off from the engine, like a network
   * partition or a SIGSTOP of the holder: its keepalives stop arriving and the
   * engine's notifications stop reaching it, until {@link resume}.
   */
  pause(sessionId: string): void {
    const lease = this.#leases.get(sessionId);
    if (lease !== undefined) lease.paused = true;
  }

  /** Test hook: reconnect a paused session; what it missed is delivered now. */
  resume(sessionId: string): void {
    const lease = this.#leases.get(sessionId) ?? this.#dead.get(sessionId);
    if (lease === undefined || !lease.paused) return;
    this.#dead.delete(sessionId);
    lease.resume();
  }

  /** Test hook: expire the lease `sessionId` now, whatever its deadline. */
  expire(sessionId: string): void {
    const lease = this.#leases.get(sessionId);
    if (lease === undefined) return;
    if (lease.paused) this.#dead.set(lease.id, lease);
    this.endLease(lease, 'expired');
  }

  /** Tell `key`'s name watchers, after the current step (as an engine's event arrives after its write). */
  #changed(key: string): void {
    const watchers = this.#nameWatchers.get(key);
    if (watchers === undefined) return;
    this.#nameWatchers.delete(key);
    queueMicrotask(() => {
      for (const watcher of watchers) watcher();
    });
  }

  #armExpiry(lease: Lease): void {
    this.clock.clearTimeout(lease.timer);
    lease.timer = this.clock.setTimeout(() => {
      lease.timer = undefined;
      if (this.clock.now() < lease.expiresAt) this.#armExpiry(lease);
      else this.expire(lease.id);
    }, lease.expiresAt - this.clock.now());
  }
}
