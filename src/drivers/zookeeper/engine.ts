/**
 * The ZooKeeper engine under the recipe core: the lock and shared-lock
 * recipes of the ZooKeeper documentation as primitives, with Curator's
 * "protected" creates.
 *
 * Ordering. A claim is an ephemeral sequential node
 * `<lock node>/<guid>-<read|write>-<seq>` of the session (the `kazoo` layout:
 * `<hex>__lock__<seq>` / `<hex>__rlock__<seq>`, layout.ts), holding the holder
 * record; the GUID is the core's claim id. Its sequence suffix is its place in
 * the queue; its `czxid` is its fencing token. Missing parents are created
 * when the create reports NO_NODE. Every other child of the lock node is a
 * foreign exclusive claim, waited for like ours (layout.ts). A create whose answer was lost is found
 * again, on the core's retry, by its GUID among the children; a duplicate that
 * may still appear later is removed when seen.
 *
 * What "held" means. Right after the create one round trip reads the children
 * and our own node (its `czxid`, and the watch that reports its deletion). The
 * core grants a claim no older claim blocks. A waiter's watch is a data watch
 * on its blocker (its stat says whose session it was, for the predecessor
 * report). ZooKeeper's watches survive reconnections within a session, and
 * fire at most once: they are "cancelled" by ignoring them.
 *
 * How loss is detected: our node's deletion while the session lives (a break,
 * or by hand: the lock node's departure record tells which); the session's
 * expiry is the Session's (session.ts). Deletes are at the version we read.
 *
 * Recipes. A claim's data is a field of its holder record, written by the
 * create itself; `updateData` is one `setData` of our node at the version we
 * last wrote (conditional: ZooKeeper has no compare on `czxid`, but the node's
 * path is unique to the claim and only we write it). A watch on a claim, ours
 * or a blocker's, sees that write as NodeDataChanged: it is watched again,
 * never reported. `watchName` is name-watch.ts.
 *
 * @internal
 * @module
 */
import { SessionLostError, type LossReason } from '../../errors.js';
import type { LockOwner } from '../../contracts/lock-info.js';
import type { BreakRecord, PredecessorReport } from '../../distributed/driver.js';
import type { ClaimRequest, ClaimsRead, ClaimWatch, Created, Engine, NameEvent, WatchEvent } from '../../core/engine.js';
import type { Scan, ScanScope } from '../../core/scan.js';
import { wouldGrant } from '../../core/blocker.js';
import { sessionHex, zxid, ZkEventType, type ZkClient, type ZkEvent, type ZkStat } from './client.js';
import { ZOOKEEPER_CAPABILITIES } from './capabilities.js';
import { breakHolders, scanClaims, type ZkListed } from './listing.js';
import { isConnectionLoss, isSessionGone, mapError, ZkCode, zkCode } from './map-error.js';
import { watchClaims } from './name-watch.js';
import { newClaimId, parseChild } from './layout.js';
import type { ZkPaths } from './paths.js';
import { toQueue, type QueueEntry } from './queue.js';
import { decodeBreak, decodeHolder, departureOf, encodeHolder } from './record.js';
import type { ZkSession } from './session.js';

/** One claim node, as the core sees it. */
export interface ZkClaim extends QueueEntry {
  readonly order: bigint;
  /** The node's `czxid` (0n for a claim only seen in a listing). */
  readonly token: bigint;
  readonly path: string;
  /** Its version when created (0); `updateData` moves it on (the engine keeps the current one). */
  readonly version: number;
}

/** The children ahead of ours, with the lock node's stat (a break writes its data). */
export interface ZkRead extends ClaimsRead<ZkClaim> {
  readonly dir?: ZkStat | undefined;
}

type ZkRequest = ClaimRequest<ZkSession>;

/**
 * Routes the event of a one-shot ZooKeeper watch to whoever listens now; one
 * that fires before anyone listens is kept for the first listener.
 */
interface Router {
  listener: ((event: ZkEvent) => void) | undefined;
  pending: ZkEvent | undefined;
  readonly watcher: (event: ZkEvent) => void;
}

function router(): Router {
  const r: Router = {
    listener: undefined,
    pending: undefined,
    watcher: (event) => (r.listener === undefined ? (r.pending = event) : r.listener(event)),
  };
  return r;
}

/**
 * ZooKeeper's primitives for the recipe core.
 *
 * @example
 * ```ts
 * const driver = new RecipeDriver(new ZkEngine(paths, sessions));
 * ```
 */
export class ZkEngine implements Engine<ZkSession, ZkClaim, ZkRead, ZkListed> {
  readonly backend = 'zookeeper';
  readonly capabilities = ZOOKEEPER_CAPABILITIES;
  readonly #paths: ZkPaths;
  readonly #sessions: ZkSessions;
  /** The watch our own node got at its creation, until the core takes it. */
  readonly #armed = new WeakMap<ZkClaim, Router>();
  /** Creates tried per attempt: a retried one first looks for its GUID. */
  readonly #tried = new WeakSet<ZkRequest>();
  /** Attempts whose create was retried: a duplicate of their claim may appear, and is removed with it. */
  readonly #retried = new WeakSet<ZkRequest>();
  /** Per attempt: our token, and the stat of the claim we last waited on. */
  readonly #own = new WeakMap<ZkRequest, bigint>();
  readonly #waited = new WeakMap<ZkRequest, ZkStat>();
  /** Claims waited on whose data was a deadbolt holder record (kazoo layout: a Python client's is not). */
  readonly #waitedDeadbolt = new WeakSet<ZkRequest>();
  /** Our claims whose data we replaced: the node's version we last wrote (deletes are at it). */
  readonly #versions = new WeakMap<ZkClaim, number>();

  constructor(paths: ZkPaths, sessions: ZkSessions) {
    this.#paths = paths;
    this.#sessions = sessions;
  }

  openLease(ttlMs: number, _owner: LockOwner): Promise<ZkSession> {
    return this.#sessions.open(ttlMs);
  }

  claimId(): string {
    return newClaimId(this.#paths.layout);
  }

  async createClaim(request: ZkRequest): Promise<Created<ZkClaim, ZkRead>> {
    const client = request.session.client;
    const dir = this.#paths.lockDir(request.name);
    if (this.#tried.has(request)) this.#retried.add(request);
    const path = (this.#tried.has(request) && (await this.#findByGuid(request))) || (await this.#create(request, dir));
    const own = router();
    const [names, stat] = await Promise.all([client.getChildren(dir), client.exists(path, own.watcher)]);
    const node = path.slice(path.lastIndexOf('/') + 1);
    const claim = this.#claim(request, node, path, stat);
    if (stat === null) return { claim }; // deleted right after its creation: the core's read says so
    this.#own.set(request, claim.token);
    this.#armed.set(claim, own);
    return { claim, read: { ahead: this.#ahead(request, claim, names) } };
  }

  /** One read, and no write at all when the lock is visibly taken; else the ordinary claim. */
  async claimIfFree(request: ZkRequest): Promise<ZkClaim | undefined> {
    const names = await request.session.client.getChildren(this.#paths.lockDir(request.name)).catch((error: unknown) => {
      if (zkCode(error) === ZkCode.NO_NODE) return [];
      throw error;
    });
    if (!wouldGrant(toQueue(names, this.#paths.layout).map(asClaim), request.mode)) return undefined;
    const { claim, read } = await this.createClaim(request);
    const ahead = read?.ahead ?? [];
    if (read !== undefined && !ahead.some((c) => c.mode === 'exclusive' || request.mode === 'exclusive')) return claim;
    await this.deleteClaim(request, claim); // someone claimed in between (or ours vanished): taken
    return undefined;
  }

  async readAhead(request: ZkRequest, own: ZkClaim): Promise<ZkRead | undefined> {
    let listing: { children: string[]; stat: ZkStat };
    try {
      listing = await request.session.client.getChildrenAndStat(this.#paths.lockDir(request.name));
    } catch (error) {
      if (zkCode(error) === ZkCode.NO_NODE) return undefined;
      throw error;
    }
    if (!listing.children.includes(own.node)) return undefined;
    return { ahead: this.#ahead(request, own, listing.children), dir: listing.stat };
  }

  watchClaim(request: ZkRequest, target: ZkClaim, _at: bigint | undefined, onEvent: (event: WatchEvent) => void): ClaimWatch {
    const client = request.session.client;
    const mine = target.guid === request.id;
    const armed = mine ? this.#armed.get(target) : undefined;
    this.#armed.delete(target);
    const r = armed ?? router();
    let live = true;
    const report = (event: WatchEvent): void => {
      if (live) onEvent(event);
    };
    const watch = (): void => {
      const watching = mine
        ? client.exists(target.path, r.watcher)
        : client.getData(target.path, r.watcher).then(({ data, stat }) => {
            // only to word the predecessor report: a record with deadbolt's session timeout is one of ours
            if (decodeHolder(data).ttlMs !== undefined) this.#waitedDeadbolt.add(request);
            else this.#waitedDeadbolt.delete(request);
            return stat;
          });
      watching.then(
        (stat) => {
          if (stat === null) report('gone');
          else if (!mine) this.#waited.set(request, stat);
        },
        (error: unknown) => report(zkCode(error) === ZkCode.NO_NODE ? 'gone' : 'uncertain'),
      );
    };
    r.listener = (event) => {
      // updateData replaced the claim's record: it is still there, so watch it again (its deletion since: 'gone')
      if (event.type === ZkEventType.DATA_CHANGED) watch();
      else report(event.type === ZkEventType.DELETED ? 'gone' : 'uncertain');
    };
    const cancel = {
      cancel: () => {
        live = false;
        r.listener = undefined;
      },
    };
    if (armed !== undefined) {
      // the watch set with the create's read: no request; an event it saw already is delivered now
      const pending = r.pending;
      r.pending = undefined;
      if (pending !== undefined) queueMicrotask(() => r.listener?.(pending));
      return cancel;
    }
    watch();
    return cancel;
  }

  async deleteClaim(request: ZkRequest, claim: ZkClaim): Promise<void> {
    const client = request.session.client;
    if (client.closed || client.expired) return; // the session took our node with it
    await client.remove(claim.path, this.#versions.get(claim) ?? claim.version).catch(async (error: unknown) => {
      if (zkCode(error) !== ZkCode.BAD_VERSION || !this.#versions.has(claim)) return ignoreGone(error);
      // an update of ours whose answer was lost, or one still in flight, moved the version on
      const stat = await client.exists(claim.path).catch(ignoreGone);
      if (stat != null && zxid(stat.czxid) === claim.token) await client.remove(claim.path, stat.version).catch(ignoreGone);
      return undefined;
    });
    if (this.#retried.has(request)) void this.withdrawUnconfirmed(request).catch(() => {}); // a recovered create's duplicate
  }

  async withdrawUnconfirmed(request: ZkRequest): Promise<void> {
    const client = request.session.client;
    if (client.closed || client.expired) return;
    const dir = this.#paths.lockDir(request.name);
    const names = await client.getChildren(dir).catch(ignoreGone);
    // only a node named with this attempt's id: never a foreign one (its guid is '')
    for (const node of names ?? []) if (parseChild(node, this.#paths.layout).guid === request.id) await client.remove(`${dir}/${node}`, -1).catch(ignoreGone);
  }

  async claimVanished(request: ZkRequest): Promise<void> {
    const client = request.session.client;
    if (client.expired) throw new SessionLostError('zookeeper session expired while waiting for a lock');
    if (client.closed) throw client.endedError();
    // deleted by hand while our session lives: the core claims again
  }

  async diagnoseLoss(request: ZkRequest, own: ZkClaim): Promise<[LossReason, string]> {
    const client = request.session.client;
    try {
      const [dir, broken] = await Promise.all([
        client.getData(this.#paths.lockDir(request.name)),
        client.getData(this.#paths.broken(request.name)).catch(() => undefined),
      ]);
      if (departureOf(dir.data, own.token) === 'broken') {
        const record = decodeBreak(broken?.data);
        const how = record === undefined ? '' : ` by ${record.by} at ${record.at.toISOString()}: ${record.reason}`;
        return ['broken', `broken${how}`];
      }
    } catch {
      // could not read why: report what we know
    }
    return ['deleted', 'the claim node was deleted on zookeeper by someone else'];
  }

  /**
   * A break writes the lock node's data (its mzxid passes our token): then the
   * departure record says whether it displaced the claim we waited on.
   * Otherwise that claim's session tells: alive, it let go; gone, it expired.
   */
  async predecessor(request: ZkRequest, waited: ZkClaim, read: Promise<ZkRead | undefined>): Promise<PredecessorReport> {
    const client = request.session.client;
    const stat = this.#waited.get(request);
    if (stat === undefined) return { outcome: 'unknown' };
    const token = zxid(stat.czxid);
    // a foreign client keeps no session node of ours: whether it let go or expired cannot be told
    if (waited.foreign === true) return { outcome: 'unknown', token };
    // asked alongside the re-check; never left to reject unobserved (an answer lost with the connection: 'unknown')
    const alive = client.exists(this.#paths.session(sessionHex(stat.ephemeralOwner))).then((s) => s !== null, () => undefined);
    const dir = (await read)?.dir;
    if (dir !== undefined && zxid(dir.mzxid) > (this.#own.get(request) ?? 0n)) {
      const [data, record] = await Promise.all([
        client.getData(this.#paths.lockDir(request.name)).catch(() => undefined),
        client.getData(this.#paths.broken(request.name)).then(({ data }) => decodeBreak(data), () => undefined),
      ]);
      if (departureOf(data?.data, token) === 'broken') {
        return record === undefined ? { outcome: 'broken', token } : { outcome: 'broken', token, breakRecord: record };
      }
    }
    const lives = await alive;
    if (lives === undefined) return { outcome: 'unknown', token };
    // under kazoo's layout the claim may be a Python client's, which has no session node: not proof of expiry
    if (!lives && this.#paths.layout === 'kazoo' && !this.#waitedDeadbolt.has(request)) return { outcome: 'unknown', token };
    return { outcome: lives ? 'released' : 'expired', token };
  }

  isTransient(error: unknown): boolean {
    return isConnectionLoss(error);
  }

  mapError(error: unknown, doing: string): Error {
    if (isSessionGone(error) && !(error instanceof SessionLostError)) {
      return new SessionLostError(`zookeeper session expired while ${doing}`, { cause: error });
    }
    return mapError(error, doing);
  }

  scan(scope: ScanScope): Promise<Scan<ZkListed>> {
    return scanClaims(this.#sessions.reader(), this.#paths, scope);
  }

  breakHolders(name: string, holders: readonly ZkListed[], record: BreakRecord): Promise<boolean> {
    return breakHolders(this.#sessions.reader(), this.#paths, name, holders, record);
  }

  /** A children watch on the name's lock node and a data watch on each of its claims (name-watch.ts). */
  async watchName(name: string, onEvent: (event: NameEvent) => void): Promise<ClaimWatch> {
    try {
      return await watchClaims(this.#sessions.reader(), this.#paths.lockDir(name), this.#paths.layout, onEvent);
    } catch (error) {
      throw this.mapError(error, `watching "${name}"`);
    }
  }

  /**
   * One `setData` of our node at the version we last wrote. A version moved on
   * by an update of ours whose answer was lost (or that raced this one) is
   * read again, and taken only if the node is still our claim (its `czxid`).
   * Gone (the node, or the session with it): `false`, nothing written.
   */
  async updateData(request: ZkRequest, claim: ZkClaim, data: string): Promise<boolean> {
    const client = request.session.client;
    if (client.closed || client.expired) return false; // the session took our node with it
    const record = encodeHolder(request.owner, request.session.ttlMs, data);
    let version = this.#versions.get(claim) ?? claim.version;
    this.#versions.set(claim, version); // from now on a delete may meet a version we moved on
    for (let attempt = 1; ; attempt++) {
      try {
        const stat = await client.setData(claim.path, record, version);
        this.#versions.set(claim, Math.max(stat.version, this.#versions.get(claim) ?? 0));
        return true;
      } catch (error) {
        if (zkCode(error) === ZkCode.NO_NODE || isSessionGone(error)) return false;
        if (zkCode(error) !== ZkCode.BAD_VERSION || attempt === UPDATE_ATTEMPTS) throw error;
      }
      const stat = await client.exists(claim.path);
      if (stat === null || zxid(stat.czxid) !== claim.token) return false;
      version = stat.version;
    }
  }

  close(): Promise<void> {
    return this.#sessions.close();
  }

  /** The create, making missing parents on NO_NODE. */
  async #create(request: ZkRequest, dir: string): Promise<string> {
    this.#tried.add(request);
    const client = request.session.client;
    const prefix = this.#paths.claimPrefix(dir, request.id, request.mode);
    const { owner, session, data: recipe } = request;
    // a plain lock's record is the cached one, byte for byte what it always was
    const data = recipe === undefined ? holderRecord(owner, session.ttlMs) : encodeHolder(owner, session.ttlMs, recipe);
    try {
      return await client.create(prefix, data, 'ephemeralSequential');
    } catch (error) {
      if (zkCode(error) !== ZkCode.NO_NODE) throw error;
      await client.mkdirp(dir);
      return client.create(prefix, data, 'ephemeralSequential');
    }
  }

  async #findByGuid(request: ZkRequest): Promise<string | undefined> {
    const dir = this.#paths.lockDir(request.name);
    const names = await request.session.client.getChildren(dir).catch((error: unknown) => {
      if (zkCode(error) === ZkCode.NO_NODE) return [];
      throw error;
    });
    const node = toQueue(names, this.#paths.layout).find((entry) => entry.guid === request.id)?.node;
    return node === undefined ? undefined : `${dir}/${node}`;
  }

  /** The claims ahead of `own`; duplicates of ours (a recovered create) are removed, not waited for. */
  #ahead(request: ZkRequest, own: ZkClaim, names: readonly string[]): ZkClaim[] {
    const dir = this.#paths.lockDir(request.name);
    const ahead: ZkClaim[] = [];
    for (const entry of toQueue(names, this.#paths.layout)) {
      if (entry.node === own.node) continue;
      if (entry.guid === own.guid) {
        request.session.client.remove(`${dir}/${entry.node}`, -1).catch(() => {});
        continue;
      }
      if (entry.seq < own.seq) ahead.push({ ...asClaim(entry), path: `${dir}/${entry.node}` });
    }
    return ahead;
  }

  #claim(request: ZkRequest, node: string, path: string, stat: ZkStat | null): ZkClaim {
    const entry = parseChild(node, this.#paths.layout);
    return { ...entry, order: BigInt(entry.seq), token: stat === null ? 0n : zxid(stat.czxid), path, version: stat?.version ?? 0 };
  }

}

/** The sessions of one driver: each has a ZooKeeper client of its own. */
export interface ZkSessions {
  open(ttlMs: number): Promise<ZkSession>;
  /** A live client for listings and breaks. */
  reader(): ZkClient;
  close(): Promise<void>;
}

/**
 * Tries of one `updateData` whose version moved on under it: only our own
 * racing updates move it, so a few converge; more means someone else writes
 * our node, and the caller gets the error.
 */
const UPDATE_ATTEMPTS = 5;

function asClaim(entry: QueueEntry): ZkClaim {
  return { ...entry, order: BigInt(entry.seq), token: 0n, path: '', version: -1 };
}

/** Gone (node, session or client) is what a delete wants; anything else is for the caller. */
function ignoreGone(error: unknown): undefined {
  if (zkCode(error) === ZkCode.NO_NODE || zkCode(error) === ZkCode.BAD_VERSION || isSessionGone(error)) return undefined;
  throw error;
}

/** Holder records by owner: a coordinator's owner never changes, so encode it once per TTL. */
const records = new WeakMap<object, { ttlMs: number; data: Buffer }>();

function holderRecord(owner: LockOwner, ttlMs: number): Buffer {
  const cached = records.get(owner);
  if (cached !== undefined && cached.ttlMs === ttlMs) return cached.data;
  const data = encodeHolder(owner, ttlMs);
  records.set(owner, { ttlMs, data });
  return data;
}
