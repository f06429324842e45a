/**
 * The memory engine under the recipe core: a MemorySpace (space.ts) as the
 * core's primitives. The reference engine: every primitive is one synchronous
 * step on the space, so nothing is ever lost in flight or transient.
 *
 * Ordering. A claim is appended to its key's list (`namespace NUL name`: NUL
 * cannot occur in either part, so namespaces never see each other's locks and
 * `list(prefix)` is a prefix match), ordered and tokened by the space's
 * counter, on the session's lease. The create reads the claims ahead of it in
 * the same step, so a claim granted at once costs the create alone.
 *
 * What "held" means. The core grants a claim no older claim blocks; it stays
 * held while the space stores it. A watch is a callback on the claim, told of
 * its deletion through the watcher's lease (so a cut-off session hears late).
 * A watch of someone else's claim holds a ref'd handle, as an open watch stream
 * would with a network engine, so a process waiting for a lock stays up.
 *
 * How loss is detected. Our claim's deletion; it says how it went (broken,
 * expired with its lease, revoked).
 *
 * Listings. `scan` hands the core (listing.ts) the stored claims with their
 * times on the space's clock; a break's compare and deletions are one step.
 *
 * @internal
 * @module
 */
import { BackendError, DeadboltError, SessionLostError, type LossReason } from '../../errors.js';
import type { BreakRecord, DriverSession, PredecessorReport } from '../../distributed/driver.js';
import { holdersOf, wouldGrant } from '../../core/blocker.js';
import type { ClaimRequest, ClaimsRead, ClaimWatch, Created, Engine, NameEvent, WatchEvent } from '../../core/engine.js';
import type { Scan, ScannedClaim, ScanScope } from '../../core/scan.js';
import { memoryCapabilities } from './capabilities.js';
import type { MemoryClaim } from './claim.js';
import type { Lease } from './lease.js';
import { MemorySession } from './session.js';
import type { MemorySpace } from './space.js';

type MemoryRequest = ClaimRequest<DriverSession>;

/**
 * A read of the claims ahead of ours (the space has no positions to watch from).
 *
 * @example
 * ```ts
 * const read: MemoryRead = { ahead: [older] };
 * ```
 */
export type MemoryRead = ClaimsRead<MemoryClaim>;

/**
 * A claim as a scan reports it, for listings and breaks (src/core/listing.ts):
 * its times on the space's clock as dates, and the stored claim a break deletes.
 *
 * @example
 * ```ts
 * const { claims } = await engine.scan({ prefix: 'jobs', exact: true, survey: false });
 * claims[0]?.expiresAt; // the holder's lease expiry
 * ```
 */
export interface MemoryScanned extends ScannedClaim {
  readonly claim: MemoryClaim;
}

const SEPARATOR = '\u0000';
const noop = (): void => {};
/** A ref'd interval that never fires in practice: it only keeps the event loop alive. */
const KEEP_ALIVE_MS = 2 ** 30;

/**
 * The memory space's primitives for the recipe core, in one namespace.
 *
 * @example
 * ```ts
 * const driver = new RecipeDriver(new MemoryEngine(memorySpace('tests'), 'deadbolt'));
 * ```
 */
export class MemoryEngine implements Engine<DriverSession, MemoryClaim, MemoryRead, MemoryScanned> {
  readonly backend = 'memory';
  readonly capabilities = memoryCapabilities;
  readonly #space: MemorySpace;
  readonly #prefix: string;
  /**
   * The lease of each session this engine opened. Sessions reach the engine
   * typed as any DriverSession (the memory driver is handed around as a plain
   * Driver, in tests wrapped method by method), so it looks a session up
   * rather than trusting its type, and refuses one it did not open.
   */
  readonly #leases = new WeakMap<DriverSession, Lease>();

  constructor(space: MemorySpace, namespace: string) {
    this.#space = space;
    this.#prefix = `${namespace}${SEPARATOR}`;
  }

  /** The owner is stored with each claim (as the other engines' holder records are), not with the lease. */
  async openLease(ttlMs: number): Promise<DriverSession> {
    const lease = this.#space.grantLease(ttlMs);
    const session = new MemorySession(this.#space, lease);
    this.#leases.set(session, lease);
    return session;
  }

  claimId(session: DriverSession): string {
    return this.#lease(session).nextClaimId();
  }

  async createClaim(request: MemoryRequest): Promise<Created<MemoryClaim, MemoryRead>> {
    const claim = this.#lease(request.session).claims.get(request.id) ?? this.#add(request);
    return { claim, read: { ahead: this.#ahead(claim)! } };
  }

  async claimIfFree(request: MemoryRequest): Promise<MemoryClaim | undefined> {
    return wouldGrant(this.#space.claims(this.#key(request.name)), request.mode) ? this.#add(request) : undefined;
  }

  async readAhead(_request: MemoryRequest, own: MemoryClaim): Promise<MemoryRead | undefined> {
    const ahead = this.#ahead(own);
    return ahead === undefined ? undefined : { ahead };
  }

  watchClaim(request: MemoryRequest, target: MemoryClaim, _at: bigint | undefined, onEvent: (event: WatchEvent) => void): ClaimWatch {
    const watch = target.watch(this.#lease(request.session), onEvent);
    if (target.id === request.id) return watch; // our own claim: a held lock alone keeps nothing alive
    const stream = setInterval(noop, KEEP_ALIVE_MS);
    return {
      cancel: () => {
        clearInterval(stream);
        watch.cancel();
      },
    };
  }

  async deleteClaim(_request: MemoryRequest, claim: MemoryClaim): Promise<void> {
    this.#space.remove(claim, { outcome: 'released', token: claim.token });
  }

  async withdrawUnconfirmed(request: MemoryRequest): Promise<void> {
    const claim = this.#lease(request.session).claims.get(request.id);
    if (claim !== undefined) await this.deleteClaim(request, claim);
  }

  async claimVanished(request: MemoryRequest): Promise<void> {
    if (!this.#lease(request.session).alive) throw leaseGone(request.session);
  }

  /** At once, from the claim itself: the lock is lost with this reason before its session's loss arrives. */
  diagnoseLoss(_request: MemoryRequest, own: MemoryClaim): [LossReason, string] {
    const record = own.departure?.breakRecord;
    if (record !== undefined) return ['broken', `broken by ${record.by}: ${record.reason}`];
    if (own.departure?.outcome === 'expired') return ['expired', 'its session lease expired'];
    return own.lease.alive ? ['deleted', 'the claim was deleted'] : ['session', `memory lease ${own.lease.id} was revoked`];
  }

  /** How the name's last holder went: a waiter ahead of us that withdrew was never one, and is not reported. */
  async predecessor(_request: MemoryRequest, waited: MemoryClaim): Promise<PredecessorReport> {
    return this.#space.departure(waited.key) ?? { outcome: 'unknown' };
  }

  /** Listings show when a waiter was granted, not when it started waiting. */
  async granted(_request: MemoryRequest, own: MemoryClaim): Promise<void> {
    own.since = this.#space.clock.now();
  }

  isTransient(): boolean {
    return false; // one synchronous step in this process: nothing to retry
  }

  mapError(error: unknown, doing: string): Error {
    if (error instanceof DeadboltError || error instanceof TypeError || error instanceof RangeError) return error;
    return new BackendError(`memory: failed while ${doing}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }

  async scan(scope: ScanScope): Promise<Scan<MemoryScanned>> {
    const start = this.#key(scope.prefix);
    const inScope = (key: string): boolean => (scope.exact ? key === start : key.startsWith(start));
    const claims = [...this.#space.keys()].filter(inScope).flatMap((key) => this.#space.claims(key).map((claim) => this.#scanned(claim)));
    if (!scope.survey) return { claims };
    const breaks = [...this.#space.departedKeys()].filter(inScope).flatMap((key) => {
      const record = this.#space.departure(key)?.breakRecord; // kept until the next holder's departure replaces it
      return record === undefined ? [] : [{ name: this.#name(key), record }];
    });
    return { claims, breaks };
  }

  /** One synchronous step: the holders are compared and deleted with nothing granted in between. */
  async breakHolders(name: string, holders: readonly MemoryScanned[], record: BreakRecord): Promise<boolean> {
    const now = holdersOf(this.#space.claims(this.#key(name)));
    if (now.length !== holders.length || holders.some((held) => !now.includes(held.claim))) return false;
    for (const { claim } of holders) this.#space.remove(claim, { outcome: 'broken', token: claim.token, breakRecord: record });
    return true;
  }

  /** One-shot: the space tells each watcher of a key once, on its next change. */
  async watchName(name: string, onEvent: (event: NameEvent) => void): Promise<ClaimWatch> {
    let active = true;
    const stop = this.#space.watchKey(this.#key(name), () => active && onEvent('changed'));
    return {
      cancel: () => {
        active = false;
        stop();
      },
    };
  }

  async updateData(_request: MemoryRequest, claim: MemoryClaim, data: string): Promise<boolean> {
    return this.#space.setData(claim, data);
  }

  async close(): Promise<void> {
    // Nothing to disconnect: the space outlives its clients, so tokens keep increasing.
  }

  #key(name: string): string {
    return this.#prefix + name;
  }

  #name(key: string): string {
    return key.slice(this.#prefix.length);
  }

  #scanned(claim: MemoryClaim): MemoryScanned {
    const { clock } = this.#space;
    const { mode, order, token, lease } = claim;
    const times = { since: clock.toDate(claim.since), expiresAt: clock.toDate(lease.expiresAt), ttlMs: lease.ttlMs };
    const scanned: MemoryScanned = { name: this.#name(claim.key), mode, order, token, owner: { ...claim.owner }, ...times, claim };
    return claim.data === undefined ? scanned : { ...scanned, data: claim.data };
  }

  #lease(session: DriverSession): Lease {
    const lease = this.#leases.get(session);
    if (lease === undefined) throw new BackendError('the memory driver was handed a session it did not open');
    return lease;
  }

  #add(request: MemoryRequest): MemoryClaim {
    const lease = this.#lease(request.session);
    if (!lease.alive) throw leaseGone(request.session);
    return this.#space.add(this.#key(request.name), request.id, lease, request.mode, request.owner, request.data);
  }

  /** The claims older than `own` (all of them: a key's list is short), or `undefined` when `own` is gone. */
  #ahead(own: MemoryClaim): MemoryClaim[] | undefined {
    const claims = this.#space.claims(own.key);
    const at = claims.indexOf(own);
    return at < 0 ? undefined : claims.slice(0, at);
  }
}

function leaseGone(session: DriverSession): SessionLostError {
  return new SessionLostError(`memory lease ${session.id} is gone`);
}
