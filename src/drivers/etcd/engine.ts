/**
 * The etcd engine under the recipe core: etcd's `concurrency.Mutex` recipe
 * (and RWMutex for shared mode) as primitives, with the corrections its
 * history taught (Jepsen's re-check, issue 22082's conditional delete).
 *
 * Ordering. A claim is a key `<ns>/locks/<name>/<lease>-<n>-<mode>` attached to
 * the session's lease, created by one transaction
 * `if create_revision(key) == 0 then put(key, holder record, lease) + read the
 * claim before it, else get(key)` (safe to repeat: a retried claim finds its
 * key). Its `create_revision` is its place in the queue and its fencing token:
 * etcd's revisions only grow and survive restarts with the data directory.
 * A claim granted at once therefore costs one transaction, and its release one
 * more: no watch request either way (delete-feed.ts).
 *
 * What "held" means. The core grants a claim no older claim blocks; it stays
 * held while its key exists with that `create_revision`. Re-reads are one
 * transaction guarded by `create_revision(own key) == token`, so a claim whose
 * key is gone is never mistaken for granted. Watches start at read revision + 1
 * (etcd's watch fast path).
 *
 * How loss is detected. Our key's DELETE on the feed; the reason is read right
 * after: our token in the name's break record means "broken", our lease gone
 * "expired", else "deleted". The Session's local deadline covers an etcd that
 * cannot be reached. The feed carries DELETEs only, so a PUT of our own key
 * (the grant-time stamp, a recipe's `updateData`) is never read as a loss.
 *
 * Recipes. A claim's data lives in its holder record (record.ts), written in
 * the claim's own put; `updateData` puts the record again under
 * `create_revision(key) == token`, and `watchName` watches the name's key
 * range for PUT and DELETE (name-watch.ts).
 *
 * Foreign keys. Every key of a name's range is a claim (queue.ts): one
 * deadbolt did not write is exclusive, waited for and watched like ours, and
 * deleted only by an operator's break.
 *
 * Layouts. Where claims live is `ClaimKeys`' (keys.ts: deadbolt's own, the
 * default; concurrency-keys.ts: Go's Mutex, `?layout=concurrency`). Under the
 * concurrency layout a claim key is `<name>/<lease hex>`, one per lease: the
 * claim counter is not in it, so the engine keeps which attempt a key is for
 * (`#occupant`) and never lets a second attempt of the session reuse a key
 * still in place; values are empty (no grant stamp, no `updateData`); and
 * claims outside `<namespace>/locks/` are watched one by one, not by the feed.
 *
 * @internal
 * @module
 */
import type { IKeyValue, IRangeRequest } from 'etcd3';
import { BackendError, BackendUnavailableError, UnsupportedError, type LossReason } from '../../errors.js';
import type { LockOwner } from '../../contracts/lock-info.js';
import { breakFromJson, displacedToken } from '../../distributed/break-record.js';
import type { BreakRecord, PredecessorReport } from '../../distributed/driver.js';
import type { ClaimRequest, ClaimsRead, ClaimWatch, Created, Engine, NameEvent, WatchEvent } from '../../core/engine.js';
import type { LeaseState, Scan, ScanScope } from '../../core/scan.js';
import type { EtcdClient } from './client.js';
import { DeleteFeed } from './delete-feed.js';
import { ETCD_CAPABILITIES, ETCD_CONCURRENCY_CAPABILITIES } from './capabilities.js';
import { ConcurrencyKeys } from './concurrency-keys.js';
import { KeyLayout, encodeName, rangeEnd, type ClaimKeys } from './keys.js';
import type { EtcdLayout } from './layout.js';
import { breakHolders, scanClaims, type EtcdListed } from './listing.js';
import { isTransient, mapError } from './map-error.js';
import { toQueue, type QueueEntry } from './queue.js';
import { watchPrefix } from './name-watch.js';
import { decodeHolder, encodeHolder } from './record.js';
import type { Capabilities } from '../../distributed/driver.js';
import { EtcdSession } from './session.js';
import { Watches } from './watch.js';

/** A read of the claims ahead of ours, with the name's break record read in the same transaction. */
export interface EtcdRead extends ClaimsRead<QueueEntry> {
  readonly at: bigint;
  readonly broken?: IKeyValue | undefined;
}

type EtcdRequest = ClaimRequest<EtcdSession>;

/**
 * How many times a waiter re-reads and watches again when etcd acknowledged
 * its watch late (writes came in between): past that, the slow path (≤ 100 ms)
 * is accepted rather than adding load to a busy etcd.
 */
const MAX_REWATCHES = 3;

/** The longest we wait to learn why a lock was lost. */
const DIAGNOSIS_BOUND_MS = 1_000;

/**
 * etcd's primitives for the recipe core.
 *
 * @example
 * ```ts
 * const driver = new RecipeDriver(new EtcdEngine(client, 'deadbolt'));
 * ```
 */
export class EtcdEngine implements Engine<EtcdSession, QueueEntry, EtcdRead, EtcdListed> {
  readonly backend = 'etcd';
  readonly capabilities: Capabilities;
  readonly fastTryModes = ['exclusive'] as const;
  readonly #client: EtcdClient;
  readonly #keys: ClaimKeys;
  readonly #watches: Watches;
  /** The shared DELETE feed; none under the concurrency layout (claims live anywhere in the keyspace). */
  readonly #feed: DeleteFeed | undefined;
  /**
   * Concurrency layout only: the attempt (`ClaimRequest.id`) each claim key of
   * ours was last written for, until its delete or withdrawal succeeded. One key
   * per lease and name, so this is what tells a retried create (the same
   * attempt) from a second attempt that must not take over the first one's key.
   */
  readonly #occupant = new Map<string, string>();
  /** Late-acknowledged watches replaced so far, per claim attempt. */
  readonly #rewatches = new WeakMap<EtcdRequest, number>();
  /**
   * The `since` our claim's record says (claim time, then grant time): a
   * record rewritten by `updateData` keeps it without reading it back first.
   */
  readonly #since = new WeakMap<QueueEntry, Date>();

  constructor(client: EtcdClient, namespace: string, layout: EtcdLayout = 'deadbolt') {
    const keys: ClaimKeys = layout === 'concurrency' ? new ConcurrencyKeys(namespace) : new KeyLayout(namespace);
    this.#client = client;
    this.#keys = keys;
    this.capabilities = layout === 'concurrency' ? ETCD_CONCURRENCY_CAPABILITIES : ETCD_CAPABILITIES;
    this.#watches = new Watches(client.etcd, keys.anchor);
    this.#feed = keys.feedRoot === undefined ? undefined : new DeleteFeed(client.etcd, keys.feedRoot, this.#watches);
    this.#feed?.start();
  }

  /** The key layout this engine writes (layout.ts). */
  get layout(): EtcdLayout {
    return this.#keys.layout;
  }

  /** Watches of their own (a read older than the feed); the feed itself is not counted. */
  get openWatches(): number {
    return this.#watches.size;
  }

  openLease(ttlMs: number, _owner: LockOwner): Promise<EtcdSession> {
    return EtcdSession.grant(this.#client, ttlMs);
  }

  claimId(session: EtcdSession): string {
    return session.nextClaim().toString();
  }

  async createClaim(request: EtcdRequest): Promise<Created<QueueEntry, EtcdRead>> {
    const key = this.#key(request);
    await this.#occupy(request, key);
    const limit = request.mode === 'exclusive' ? 2 : 0; // ours and the one before it
    const since = new Date();
    const res = await this.#client.etcd.kv.txn({
      compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
      success: [
        { request_put: { key, value: this.#keys.value(request.owner, since, request.data), lease: request.session.lease.toString() } },
        { request_range: { ...this.#queue(request.name), limit } },
      ],
      failure: [{ request_range: { key } }],
    });
    if (!res.succeeded) {
      // a retried claim whose first attempt was applied: our key exists already, with that attempt's record
      const kv = res.responses[0]!.response_range.kvs[0]!;
      if (BigInt(kv.lease) !== request.session.lease) {
        // only under the concurrency layout can a key we did not write be at our key (someone wrote "<name>/<our lease>")
        throw new BackendError(`etcd: the claim key of "${request.name}" for this session exists on another lease; it was not written by deadbolt`);
      }
      return { claim: this.#entry(request, key, BigInt(kv.create_revision), decodeHolder(kv.value).since) };
    }
    const revision = BigInt(res.header.revision);
    const claim = this.#entry(request, key, revision, since);
    const ahead = toQueue(this.#keys, request.name, res.responses[1]!.response_range.kvs).filter((c) => c.order < revision);
    return { claim, read: { ahead, at: revision } };
  }

  /** Exclusive only: `if no key of the queue exists then put`, one transaction that writes nothing when taken. */
  async claimIfFree(request: EtcdRequest): Promise<QueueEntry | undefined> {
    const prefix = Buffer.from(this.#keys.queue(request.name));
    const key = this.#key(request);
    await this.#occupy(request, key);
    const since = new Date();
    const res = await this.#client.etcd.kv.txn({
      compare: [{ key: prefix, range_end: rangeEnd(prefix), target: 'Version', result: 'Equal', version: 0 }],
      success: [{ request_put: { key, value: this.#keys.value(request.owner, since, request.data), lease: request.session.lease.toString() } }],
      failure: [],
    });
    if (res.succeeded) return this.#entry(request, key, BigInt(res.header.revision), since);
    this.#vacate(request, key); // nothing written
    return undefined;
  }

  async readAhead(request: EtcdRequest, own: QueueEntry): Promise<EtcdRead | undefined> {
    const limit = request.mode === 'exclusive' ? 1 : 0;
    const res = await this.#client.etcd.kv.txn({
      compare: [{ key: own.key, target: 'Create', result: 'Equal', create_revision: own.token.toString() }],
      success: [
        { request_range: { ...this.#queue(request.name), limit, max_create_revision: (own.token - 1n).toString() } },
        { request_range: { key: Buffer.from(this.#keys.broken(request.name)) } },
      ],
      failure: [],
    });
    if (!res.succeeded) return undefined;
    return {
      ahead: toQueue(this.#keys, request.name, res.responses[0]!.response_range.kvs),
      at: BigInt(res.header.revision),
      broken: res.responses[1]!.response_range.kvs[0],
    };
  }

  watchClaim(request: EtcdRequest, target: QueueEntry, at: bigint | undefined, onEvent: (event: WatchEvent) => void): ClaimWatch {
    const own = target.key.equals(this.#key(request));
    const source = this.#feed ?? this.#watches;
    return source.onDelete(target.key, (at ?? target.revision) + 1n, {
      onDelete: () => onEvent('gone'),
      onUncertain: () => onEvent('uncertain'),
      // on etcd's slow path a waiter's wake-up could come ~100 ms late: read and watch again, a few times
      onStale: () => {
        if (own) return;
        const n = this.#rewatches.get(request) ?? 0;
        if (n < MAX_REWATCHES) {
          this.#rewatches.set(request, n + 1);
          onEvent('uncertain');
        }
      },
    });
  }

  async deleteClaim(request: EtcdRequest, claim: QueueEntry): Promise<void> {
    await this.#client.etcd.kv.txn({
      compare: [{ key: claim.key, target: 'Create', result: 'Equal', create_revision: claim.token.toString() }],
      success: [{ request_delete_range: { key: claim.key } }],
      failure: [],
    });
    this.#vacate(request, claim.key);
  }

  async withdrawUnconfirmed(request: EtcdRequest): Promise<void> {
    const key = this.#key(request);
    // concurrency layout: the key is the session's for this name, maybe another attempt's by now: leave that one alone
    if (this.#feed === undefined && this.#occupant.get(key.toString('latin1')) !== request.id) return;
    await this.#client.etcd.kv.txn({
      // only while it is still ours; a missing key compares unequal and is left alone
      compare: [{ key, target: 'Lease', result: 'Equal', lease: request.session.lease.toString() }],
      success: [{ request_delete_range: { key } }],
      failure: [],
    });
    this.#vacate(request, key);
  }

  async claimVanished(request: EtcdRequest): Promise<void> {
    const ttl = await EtcdSession.timeToLive(this.#client, request.session.lease);
    if (ttl === undefined) throw mapError(new Error('etcdserver: requested lease not found'), `waiting for "${request.name}"`);
  }

  async diagnoseLoss(request: EtcdRequest, own: QueueEntry): Promise<[LossReason, string]> {
    const client = this.#client;
    const [broken, ttl] = await Promise.all([
      client.etcd.kv.range({ key: Buffer.from(this.#keys.broken(request.name)) }, client.deadline(DIAGNOSIS_BOUND_MS)),
      EtcdSession.timeToLive(client, request.session.lease),
    ]);
    const record = breakFromJson(broken.kvs[0]?.value.toString('utf8'));
    if (record !== undefined && displacedToken(record, own.token)) {
      return ['broken', `broken by ${record.by} at ${record.at.toISOString()}: ${record.reason}`];
    }
    if (ttl === undefined) return ['expired', `session lease ${request.session.id} expired on etcd`];
    return ['deleted', 'the claim key was deleted on etcd by someone else'];
  }

  /**
   * Broken if the name's break record lists its token; released if its lease
   * still lives (it deleted its key itself); expired if its lease is gone. A
   * holder that released and then closed its session at once may be reported as expired.
   */
  async predecessor(_request: EtcdRequest, waited: QueueEntry, read: Promise<EtcdRead | undefined>): Promise<PredecessorReport> {
    // a foreign key on no lease (0) has no lease to ask about
    const lease = waited.lease === 0n ? Promise.resolve('unknown' as const) : EtcdSession.timeToLive(this.#client, waited.lease).catch(() => 'unknown' as const);
    const record = breakFromJson((await read)?.broken?.value.toString('utf8'));
    if (record !== undefined && displacedToken(record, waited.revision)) {
      return { outcome: 'broken', token: waited.revision, breakRecord: record };
    }
    const ttl = await lease;
    if (ttl === 'unknown') return { outcome: 'unknown', token: waited.revision };
    return { outcome: ttl === undefined ? 'expired' : 'released', token: waited.revision };
  }

  /**
   * The holder record says when the claim was made; a waiter's grant is later:
   * write it (with the claim's data), conditionally, on our lease. Only while
   * the record is still the claim's first (`mod_revision == create_revision`):
   * this call is not awaited, so a `updateData` sent right after the grant may
   * land first, and must not be overwritten with the data of the claim. That
   * `updateData` writes the grant time itself (#since is set here, before).
   */
  async granted(request: EtcdRequest, own: QueueEntry): Promise<void> {
    const since = new Date();
    this.#since.set(own, since);
    if (this.#feed === undefined) return; // concurrency layout: the value stays empty, as Go's
    await this.#client.etcd.kv.txn({
      compare: [
        { key: own.key, target: 'Create', result: 'Equal', create_revision: own.token.toString() },
        { key: own.key, target: 'Mod', result: 'Equal', mod_revision: own.token.toString() },
      ],
      success: [{ request_put: { key: own.key, value: encodeHolder(request.owner, since, request.data), lease: request.session.lease.toString() } }],
      failure: [],
    });
  }

  isTransient(error: unknown): boolean {
    return isTransient(error);
  }

  mapError(error: unknown, doing: string): Error {
    return mapError(error, doing);
  }

  scan(scope: ScanScope): Promise<Scan<EtcdListed>> {
    return scanClaims(this.#client.etcd, this.#keys, scope);
  }

  /** etcd reports whole seconds, so an expiry may show up to a second early. */
  async leaseState(lease: string): Promise<LeaseState | undefined> {
    const state = await EtcdSession.leaseState(this.#client, BigInt(lease));
    return state === undefined ? undefined : { leftMs: state.left * 1000, ttlMs: state.granted * 1000 };
  }

  breakHolders(name: string, holders: readonly EtcdListed[], record: BreakRecord): Promise<boolean> {
    return breakHolders(this.#client.etcd, this.#keys, name, holders, record);
  }

  /** One watch of the name's key range, PUT and DELETE, resolved on etcd's acknowledgement (name-watch.ts). */
  watchName(name: string, onEvent: (event: NameEvent) => void): Promise<ClaimWatch> {
    const doing = `watching "${name}"`;
    let prefix: Buffer;
    try {
      prefix = Buffer.from(this.#keys.queue(name)); // the same encoding (and checks) as a claim's key
    } catch (error) {
      return Promise.reject(this.mapError(error, doing));
    }
    return watchPrefix(this.#client.etcd, this.#watches, prefix, this.#client.requestTimeout, doing, onEvent);
  }

  /**
   * Put the record again with `data`, only while the key is still our claim
   * (`create_revision == token`: a key made again by anyone has a newer one),
   * on its lease; the record keeps its `since`. One transaction; `false`,
   * writing nothing, when the claim is gone. Our own watch sees DELETEs only,
   * so this PUT is not a loss; name watchers see it (a PUT of a claim key).
   */
  async updateData(request: EtcdRequest, claim: QueueEntry, data: string): Promise<boolean> {
    if (this.#feed === undefined) throw new UnsupportedError('etcd layout=concurrency stores no recipe data (Go\'s Mutex keys have an empty value)');
    const since = this.#since.get(claim) ?? new Date(); // always set for a claim this engine made
    const res = await this.#client.etcd.kv.txn({
      compare: [{ key: claim.key, target: 'Create', result: 'Equal', create_revision: claim.token.toString() }],
      success: [{ request_put: { key: claim.key, value: encodeHolder(request.owner, since, data), lease: claim.lease.toString() } }],
      failure: [],
    });
    return res.succeeded;
  }

  async close(): Promise<void> {
    this.#feed?.close();
    this.#watches.closeAll();
    this.#client.close();
  }

  /** The claim key of this attempt (the id is the session's claim counter). */
  #key(request: EtcdRequest): Buffer {
    encodeName(request.name); // a clear error for a name etcd cannot hold
    if (request.mode === 'shared' && this.#keys.layout === 'concurrency') {
      throw new UnsupportedError(`etcd layout=concurrency has no shared locks (Go's concurrency.Mutex has none); acquire "${request.name}" in 'exclusive' mode`);
    }
    return Buffer.from(this.#keys.claim(request.name, request.session.lease, Number(request.id), request.mode));
  }

  /**
   * Concurrency layout: make `key` this attempt's before writing it. A key
   * still held for another attempt (its delete not done yet: the reaper retries
   * it) is read: gone, it is taken over; still there, this attempt fails as
   * transient, so the core retries it, and never two attempts share one key.
   */
  async #occupy(request: EtcdRequest, key: Buffer): Promise<void> {
    if (this.#feed !== undefined) return; // deadbolt's layout: every attempt has a key of its own
    const id = key.toString('latin1');
    const occupant = this.#occupant.get(id);
    if (occupant !== undefined && occupant !== request.id) {
      const res = await this.#client.etcd.kv.range({ key, keys_only: true });
      if (res.kvs.length > 0 && this.#occupant.get(id) === occupant) {
        throw new BackendUnavailableError(`etcd layout=concurrency: this session's previous claim of "${request.name}" is still being removed`);
      }
    }
    this.#occupant.set(id, request.id);
  }

  /** The key is no longer in use by `request`'s attempt (deleted, withdrawn, or never written). */
  #vacate(request: EtcdRequest, key: Buffer): void {
    const id = key.toString('latin1');
    if (this.#occupant.get(id) === request.id) this.#occupant.delete(id);
  }

  #entry(request: EtcdRequest, key: Buffer, revision: bigint, since: Date): QueueEntry {
    const entry: QueueEntry = { key, name: request.name, mode: request.mode, order: revision, token: revision, revision, lease: request.session.lease };
    this.#since.set(entry, since);
    return entry;
  }

  #queue(name: string): IRangeRequest {
    const prefix = Buffer.from(this.#keys.queue(name));
    return { key: prefix, range_end: rangeEnd(prefix), sort_order: 'Descend', sort_target: 'Create', keys_only: true };
  }
}
