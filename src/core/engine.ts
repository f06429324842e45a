/**
 * The engine contract: the few primitives a coordination engine (etcd,
 * ZooKeeper, Redis, PostgreSQL, memory) provides so that the recipe core
 * (src/core/) can build locks on it. This is Curator's split: the core owns
 * queue order, the blocker rule, waiting, re-checking, withdrawing, backoff,
 * reaping and loss; an engine owns only how a claim is written, read, watched
 * and deleted on its wire.
 *
 * Ordering. Every claim of a name has an `order` the engine assigned when it
 * accepted the claim (etcd: `create_revision`; ZooKeeper: the sequence suffix;
 * PostgreSQL: a sequence bumped in the claiming transaction). Smaller is older.
 * The core never invents order: it only compares the `order` keys the engine
 * returned. An engine whose server keeps the queue and grants by itself (Redis's
 * scripts) reports a waiting claim behind the one obstacle the server saw, and
 * the read that grants it hands the claim back with its token (`ClaimsRead.claim`).
 *
 * What "held" means. A claim is granted when no older claim blocks it (see
 * blocker.ts: an exclusive claim waits for every earlier claim, a shared claim
 * for earlier exclusive ones), and stays held while the engine keeps it with
 * its token. Loss (the claim gone, the session gone) is reported through
 * `watchClaim` on our own claim and through the lease; the core turns both into
 * the held lock's one signal (held-lock.ts).
 *
 * Typing. An engine is generic in its session type `S`, its claim type `C`, its
 * read type `R` and its scanned-claim type `P` (scan.ts): the core hands back
 * exactly the objects the engine made, so no engine ever downcasts
 * (`instanceof`) what it receives.
 *
 * Listings. The engine only reads (`scan`) and, for a break, deletes exactly
 * the holders the core chose (`breakHolders`); who holds, who waits, expiry
 * and the survey are the core's (listing.ts, break-lock.ts).
 *
 * @internal
 * @module
 */
import type { LossReason } from '../errors.js';
import type { LockOwner } from '../contracts/fenced-guard.js';
import type { BreakRecord, Capabilities, DriverSession, PredecessorReport } from '../distributed/driver.js';
import type { ClaimMode, EngineClaim } from './claim.js';
import type { LeaseState, Scan, ScannedClaim, ScanScope } from './scan.js';

// The claim's shape is the contract's too: engines import it from here.
export type { ClaimMode, EngineClaim };

/**
 * What a claim is made for: the session `S` it lives on (the one `openLease`
 * returned), the lock name as the user gave it (the engine applies its
 * namespace and encoding), the mode and the owner record to store.
 *
 * @example
 * ```ts
 * const request: ClaimRequest<EtcdSession> = { session, id: engine.claimId(session), name: 'jobs', mode: 'exclusive', owner };
 * ```
 */
export interface ClaimRequest<S extends DriverSession> {
  readonly session: S;
  /**
   * This attempt's identity, minted by the engine's `claimId` before anything
   * is written (etcd: part of the key; ZooKeeper: the GUID in the node name;
   * SQL: a column). It lets a retried create find its claim again, and lets
   * `withdrawUnconfirmed` remove a claim whose create was never answered.
   */
  readonly id: string;
  readonly name: string;
  readonly mode: ClaimMode;
  readonly owner: LockOwner;
  /**
   * The recipe's data stored with the claim (a leader's proclaimed value, a
   * member's metadata), at most MAX_CLAIM_DATA_BYTES of UTF-8; absent for a
   * plain lock. Stored with the claim in the same write, returned by `scan` as
   * `ScannedClaim.data`, replaced by `updateData`.
   */
  readonly data?: string;
}

/** The most UTF-8 bytes of recipe data one claim stores (`ClaimRequest.data`). */
export const MAX_CLAIM_DATA_BYTES = 4_096;

/**
 * What a name watch reports: `'changed'` a claim of the name was created or
 * deleted, or its data was replaced; `'uncertain'` the engine may have missed
 * events (reconnection, compaction). Either way the core reads the name again.
 */
export type NameEvent = 'changed' | 'uncertain';

/**
 * A read of the claims ahead of ours, in engine order (oldest first). Engines
 * may extend it with what they read in the same round trip (a position to
 * watch from, a break record for the predecessor report).
 *
 * @example
 * ```ts
 * const read: ClaimsRead<MemoryClaim> = { ahead: [older], at: 42n };
 * ```
 */
export interface ClaimsRead<C extends EngineClaim> {
  /**
   * Claims of the name older than ours, oldest first. An engine may return
   * only a suffix (etcd reads the one claim just before an exclusive claim):
   * it must contain every claim the blocker rule could pick, that is the
   * youngest older claim for an exclusive claim and every older exclusive
   * claim's youngest for a shared one.
   */
  readonly ahead: readonly C[];
  /** An engine position the read was made at (etcd: the revision), handed back to `watchClaim`. */
  readonly at?: bigint;
  /**
   * Our own claim again, completed by this read: for an engine that decides the
   * grant itself and fills in the token only then (Redis's scripts). The core
   * holds, releases and reports this object from then on. Such a read must
   * show nothing blocking (blocker.ts) exactly when it granted.
   */
  readonly claim?: C;
}

/**
 * The result of creating a claim: the claim, and (when the engine read it in
 * the same round trip) the claims ahead of it, which saves a request when the
 * claim is granted at once.
 *
 * @example
 * ```ts
 * return { claim, read: { ahead: [], at: revision } };
 * ```
 */
export interface Created<C extends EngineClaim, R extends ClaimsRead<C>> {
  readonly claim: C;
  readonly read?: R;
}

/**
 * What a watch reports: `'gone'` the watched claim no longer exists;
 * `'uncertain'` the engine may have missed events (reconnection, compaction):
 * the core re-reads and watches again.
 */
export type WatchEvent = 'gone' | 'uncertain';

/** A watch the core can stop. Cancelling twice is harmless. */
export interface ClaimWatch {
  cancel(): void;
}

/**
 * The engine's primitives under the recipe core. Every method that talks to
 * the engine may reject; the core asks `isTransient` which errors to retry
 * (with its one backoff, for at most one TTL) and maps the rest with `mapError`.
 *
 * @example
 * ```ts
 * const driver = new RecipeDriver(new EtcdEngine(client, namespace));
 * const coordinator = new Coordinator(driver, await Session.open(driver, ttl, owner), owner);
 * ```
 */
export interface Engine<S extends DriverSession, C extends EngineClaim, R extends ClaimsRead<C> = ClaimsRead<C>, P extends ScannedClaim = ScannedClaim> {
  /** `'etcd'`, `'zookeeper'`, … */
  readonly backend: string;
  readonly capabilities: Capabilities;
  /**
   * True when a claim whose lease runs out vanishes without any event a
   * `watchName` could report (Redis: the server expires the key, no script
   * runs). Name watchers then also read again when the earliest listed expiry
   * passes (src/recipes/name-changes.ts).
   */
  readonly silentExpiry?: boolean;

  /** Open a lease of at least `ttlMs`; `S.keepAlive()` renews it, `S.revoke()` ends it. */
  openLease(ttlMs: number, owner: LockOwner): Promise<S>;

  /** A fresh claim identity on `session`, never reused (see `ClaimRequest.id`). Synchronous, local. */
  claimId(session: S): string;

  /**
   * Create a claim for `request`, ordered by the engine. Safe to repeat after
   * an error whose answer was lost (the engine finds its own claim again). The
   * claim must be attached to the session's lease, so that it goes with it.
   */
  createClaim(request: ClaimRequest<S>): Promise<Created<C, R>>;

  /**
   * Optional fast path for `tryAcquire`: claim only if nothing blocks a claim of
   * this mode now, writing nothing otherwise, in one round trip. Without it the
   * core creates, reads, and withdraws when blocked.
   */
  claimIfFree?(request: ClaimRequest<S>): Promise<C | undefined>;

  /** The modes `claimIfFree` handles (default: both); other modes take the core's path. */
  readonly fastTryModes?: readonly ClaimMode[];

  /**
   * Read the claims ahead of `own`. Resolves `undefined` when `own` no longer
   * exists (the re-check after every wake: Jepsen's etcd finding).
   */
  readAhead(request: ClaimRequest<S>, own: C): Promise<R | undefined>;

  /**
   * Watch `target` (a claim ahead of ours, or our own) and call `onEvent` when it
   * is gone or the watch became uncertain. `at` is the position of the read
   * that saw it exist (watch from `at + 1` where the engine allows; `undefined`:
   * from the target's creation). A deletion after that read must be reported
   * even if it happened before the watch was set (an engine without positions
   * checks existence as it sets the watch, as ZooKeeper's `exists` does). The
   * core ignores everything after the first event and cancels the watch.
   */
  watchClaim(request: ClaimRequest<S>, target: C, at: bigint | undefined, onEvent: (event: WatchEvent) => void): ClaimWatch;

  /**
   * Delete `claim` if and only if it is still the one with its token (never a
   * blind delete: etcd issue 22082). Already gone is success. The core retries
   * a transient failure in the background (reaper.ts) until it succeeds.
   */
  deleteClaim(request: ClaimRequest<S>, claim: C): Promise<void>;

  /**
   * Delete the claim made with `request.id` on `request.session`, if one exists
   * (its create failed or was never answered, so the core has no claim object).
   * Conditional on our session, so it never removes anyone else's claim. The
   * core calls it through its reaper, retried with its backoff until it resolves.
   */
  withdrawUnconfirmed(request: ClaimRequest<S>): Promise<void>;

  /**
   * Our claim vanished while we waited. Reject (SessionLostError, mapped) when
   * the session is gone with it; resolve when the claim should simply be made again.
   */
  claimVanished(request: ClaimRequest<S>, own: C): Promise<void>;

  /**
   * Why our held claim is gone (after its watch said `'gone'`), as a loss reason
   * and a sentence. An engine that knows without a request (memory: the claim
   * says how it went) may answer synchronously: the loss is then reported in
   * the same turn as the watch event, before any news that follows it (the
   * session's own loss, which would mark the lock lost with the vaguer
   * `'session'`). Never throws synchronously.
   */
  diagnoseLoss(request: ClaimRequest<S>, own: C): Promise<[LossReason, string]> | [LossReason, string];

  /**
   * How the claim we waited on (`waited`) let go. `read` is the re-check that
   * follows its deletion, still in flight: the core asks for the report
   * alongside it, so an engine can look up the predecessor's lease in parallel
   * and await `read` only for what it carries (a break record). A rejection
   * becomes `'unknown'`.
   */
  predecessor(request: ClaimRequest<S>, waited: C, read: Promise<R | undefined>): Promise<PredecessorReport>;

  /**
   * Optional: called once a waited-for claim is granted (etcd stamps the grant
   * time into the holder record). Best effort: the core ignores its failure.
   */
  granted?(request: ClaimRequest<S>, own: C): Promise<void>;

  /** Whether `error` is worth retrying (engine unreachable, leader change). */
  isTransient(error: unknown): boolean;
  /** Turn an engine error into a DeadboltError saying what we were `doing`. */
  mapError(error: unknown, doing: string): Error;

  /**
   * Read the claims in `scope` (and, for a survey, the kept break records): the
   * core's listings, surveys and breaks are built on this one read (listing.ts).
   * Rejects with a mapped error.
   */
  scan(scope: ScanScope): Promise<Scan<P>>;

  /** For claims that name a `lease` instead of an expiry: its time left; `undefined` when it is gone. */
  leaseState?(lease: string): Promise<LeaseState | undefined>;

  /**
   * The engine's atomic step of a break (break-lock.ts): delete exactly
   * `holders`, each only if it is still that claim (revision, version, token),
   * and store `record` (its `displaced` filled in) for the next holder, in one
   * transaction or script. Resolves `false`, changing nothing, when the holders
   * changed since the scan; the core then reads again.
   */
  breakHolders(name: string, holders: readonly P[], record: BreakRecord): Promise<boolean>;

  /**
   * Watch every claim of `name` (the observers of an election, the watchers of
   * a group): call `onEvent` when any claim of the name is created or deleted
   * or has its data replaced, or when the watch became uncertain. Resolves once
   * the watch is armed: every change after that moment is reported, so the
   * core arms first and reads after (a change between its read and the watch
   * cannot be missed; one already in the read only costs a second read). The
   * core ignores everything after the first event, cancels, and arms again.
   * Rejects with a mapped error when the watch cannot be set.
   */
  watchName(name: string, onEvent: (event: NameEvent) => void): Promise<ClaimWatch>;

  /**
   * Replace the data stored with our claim (`ClaimRequest.data`) if and only if
   * the claim is still the one with its token, in one conditional write.
   * Resolves `false`, writing nothing, when the claim is gone. A replacement
   * must never be reported as the claim's loss by `watchClaim` on our own claim.
   */
  updateData(request: ClaimRequest<S>, claim: C, data: string): Promise<boolean>;

  /** Close the client (sessions were revoked before). */
  close(): Promise<void>;
}
