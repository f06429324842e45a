/**
 * The memory engine: what etcd or ZooKeeper would be, in this process. Every
 * coordinator connected to `memory://<name>` shares the space of that name.
 *
 * Protocol
 * - Leases expire on the space's clock `ttl` after their last renewal; expiry
 *   drops every claim of the lease (holders learn `'expired'`).
 * - Each key has holders and a FIFO queue. A claim is granted when nothing
 *   queued before it is still waiting and its mode is compatible: exclusive
 *   with no holder, shared with no exclusive holder. A departure grants from
 *   the head only: one exclusive waiter, or a run of shared ones (no herd, no polling).
 * - Tokens come from one counter per space, taken at grant time, so each is
 *   greater than every earlier grant of every key.
 * - A departure (released, expired, broken) is remembered per key and handed
 *   to the next holder as its predecessor report.
 * - Test hooks: `pause(sessionId)` cuts a session off from the engine (its
 *   keepalives and notifications wait until `resume`), `expire(sessionId)`
 *   expires its lease now.
 *
 * @module
 */
import { SessionLostError, type LossReason } from '../../errors.js';
import type { Clock, ClockTimer } from '../../distributed/clock.js';
import type { BreakRecord, PredecessorReport } from '../../distributed/driver.js';
import type { LockInfo, LockOwner } from '../../contracts/fenced-guard.js';

/** One lease (a session) in the engine. @internal */
export class Lease {
  alive = true;
  paused = false;
  expiresAt: number;
  timer: ClockTimer | undefined;
  readonly claims = new Set<Claim>();
  /** Deliveries held back while paused: keepalive answers and loss notifications. */
  readonly held: (() => void)[] = [];
  onLost: ((cause: unknown) => void) | undefined;

  constructor(readonly id: string, readonly ttlMs: number, readonly owner: LockOwner, now: number) {
    this.expiresAt = now + ttlMs;
  }

  /** Deliver a message to the session, or hold it while the session is cut off. */
  deliver(message: () => void): void {
    if (this.paused) this.held.push(message);
    else queueMicrotask(message);
  }
}

/** One claim on a key: waiting, then held, then gone. @internal */
export class Claim {
  state: 'waiting' | 'held' | 'gone' = 'waiting';
  token = 0n;
  since = 0;
  predecessor: PredecessorReport | undefined;
  onLost: ((reason: LossReason, detail: string) => void) | undefined;

  constructor(
    readonly key: string,
    readonly lease: Lease,
    readonly mode: 'exclusive' | 'shared',
    readonly granted: (claim: Claim) => void,
    readonly failed: (err: unknown) => void,
  ) {}
}

interface Entry {
  holders: Claim[];
  queue: Claim[];
}

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
  readonly #entries = new Map<string, Entry>();
  readonly #leases = new Map<string, Lease>();
  readonly #departures = new Map<string, PredecessorReport>();
  /** Leases that ended while paused, so `resume` can still deliver their news. */
  readonly #dead = new Map<string, Lease>();
  #tokens = 0n;
  #leaseIds = 0;

  constructor(readonly name: string, readonly clock: Clock) {}

  /** Grant a lease. @internal */
  grantLease(ttlMs: number, owner: LockOwner): Lease {
    const lease = new Lease(`${this.name}-${++this.#leaseIds}`, ttlMs, owner, this.clock.now());
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

  /** Drop a lease and everything it holds or waits for. @internal */
  endLease(lease: Lease, outcome: 'released' | 'expired'): void {
    if (!lease.alive) return;
    lease.alive = false;
    if (lease.timer !== undefined) this.clock.clearTimeout(lease.timer);
    this.#leases.delete(lease.id);
    const gone = new SessionLostError(`memory lease ${lease.id} ${outcome === 'expired' ? 'expired' : 'was revoked'}`);
    for (const claim of [...lease.claims]) {
      if (claim.state === 'waiting') this.withdraw(claim, gone);
      else this.#depart(claim, outcome, outcome === 'expired' ? 'its session lease expired' : undefined);
    }
    if (outcome === 'expired') lease.deliver(() => lease.onLost?.(gone));
  }

  /** Queue a claim; it is granted at once if it can be. @internal */
  claim(claim: Claim): void {
    const entry = this.#entry(claim.key);
    claim.lease.claims.add(claim);
    entry.queue.push(claim);
    this.#grantFromHead(claim.key, entry);
  }

  /** Grant a claim only if it can be granted now. @internal */
  tryClaim(claim: Claim): boolean {
    const entry = this.#entries.get(claim.key);
    if (entry !== undefined && (entry.queue.length > 0 || !compatible(entry, claim.mode))) return false;
    this.claim(claim);
    return true;
  }

  /** Take back a waiting claim (abort, timeout, lease end) and reject it with `reason`. @internal */
  withdraw(claim: Claim, reason: unknown): void {
    if (claim.state !== 'waiting') return;
    const entry = this.#entries.get(claim.key)!;
    const wasHead = entry.queue[0] === claim;
    entry.queue.splice(entry.queue.indexOf(claim), 1);
    this.#forget(claim);
    claim.failed(reason);
    // It may have been holding back shared claims behind it.
    if (wasHead) this.#grantFromHead(claim.key, entry);
    this.#dropIfIdle(claim.key, entry);
  }

  /** Release a held claim if it is still held (conditional, like a token compare). @internal */
  release(claim: Claim): void {
    if (claim.state === 'held') this.#depart(claim, 'released');
  }

  /** Displace every holder of `key` and store `record` for the next holder. @internal */
  break(key: string, record: BreakRecord, toInfo: (claim: Claim) => LockInfo): LockInfo[] {
    const holders = [...(this.#entries.get(key)?.holders ?? [])];
    if (holders.length === 0) return [];
    const displaced = holders.map(toInfo);
    const stored: BreakRecord = { ...record, displaced };
    for (const claim of holders) this.#depart(claim, 'broken', `broken by ${record.by}: ${record.reason}`, stored);
    return displaced;
  }

  /** Current holders of every key accepted by `match`. @internal */
  holders(match: (key: string) => boolean): Claim[] {
    const found: Claim[] = [];
    for (const [key, entry] of this.#entries) if (match(key)) found.push(...entry.holders);
    return found;
  }

  /** Waiting claims (queue order) and the kept break record of every key accepted by `match` that has either. @internal */
  queues(match: (key: string) => boolean): Array<{ key: string; waiters: Claim[]; lastBreak: BreakRecord | undefined }> {
    const keys = new Set([...this.#entries.keys(), ...this.#departures.keys()].filter(match));
    const found = [...keys].sort().map((key) => ({
      key,
      waiters: [...(this.#entries.get(key)?.queue ?? [])],
      lastBreak: this.#departures.get(key)?.breakRecord,
    }));
    return found.filter((q) => q.waiters.length > 0 || q.lastBreak !== undefined);
  }

  /** The lease with this id, if it is alive. @internal */
  lease(id: string): Lease | undefined {
    return this.#leases.get(id);
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
    lease.paused = false;
    for (const message of lease.held.splice(0)) queueMicrotask(message);
  }

  /** Test hook: expire the lease `sessionId` now, whatever its deadline. */
  expire(sessionId: string): void {
    const lease = this.#leases.get(sessionId);
    if (lease === undefined) return;
    if (lease.paused) this.#dead.set(lease.id, lease);
    this.endLease(lease, 'expired');
  }

  #armExpiry(lease: Lease): void {
    if (lease.timer !== undefined) this.clock.clearTimeout(lease.timer);
    lease.timer = this.clock.setTimeout(() => {
      lease.timer = undefined;
      if (this.clock.now() < lease.expiresAt) this.#armExpiry(lease);
      else this.expire(lease.id);
    }, lease.expiresAt - this.clock.now());
  }

  #grantFromHead(key: string, entry: Entry): void {
    for (let head = entry.queue[0]; head !== undefined && compatible(entry, head.mode); head = entry.queue[0]) {
      entry.queue.shift();
      head.state = 'held';
      head.token = ++this.#tokens;
      head.since = this.clock.now();
      head.predecessor = this.#departures.get(key);
      entry.holders.push(head);
      head.granted(head);
      if (head.mode === 'exclusive') return;
    }
  }

  #depart(claim: Claim, outcome: LossReason, lossDetail?: string, breakRecord?: BreakRecord): void {
    const entry = this.#entries.get(claim.key)!;
    entry.holders.splice(entry.holders.indexOf(claim), 1);
    this.#forget(claim);
    const report: PredecessorReport = { outcome: outcome === 'released' ? 'released' : outcome === 'broken' ? 'broken' : 'expired', token: claim.token };
    if (breakRecord !== undefined) report.breakRecord = breakRecord;
    this.#departures.set(claim.key, report);
    if (lossDetail !== undefined) claim.lease.deliver(() => claim.onLost?.(outcome, lossDetail));
    this.#grantFromHead(claim.key, entry);
    this.#dropIfIdle(claim.key, entry);
  }

  #forget(claim: Claim): void {
    claim.state = 'gone';
    claim.lease.claims.delete(claim);
  }

  #entry(key: string): Entry {
    let entry = this.#entries.get(key);
    if (entry === undefined) this.#entries.set(key, (entry = { holders: [], queue: [] }));
    return entry;
  }

  #dropIfIdle(key: string, entry: Entry): void {
    if (entry.holders.length === 0 && entry.queue.length === 0) this.#entries.delete(key);
  }
}

function compatible(entry: Entry, mode: 'exclusive' | 'shared'): boolean {
  if (mode === 'exclusive') return entry.holders.length === 0;
  return entry.holders.every((holder) => holder.mode === 'shared');
}
