/**
 * The lock protocol on ZooKeeper: the lock and shared-lock recipes of the
 * ZooKeeper documentation, with Curator's "protected" creates and the
 * corrections DESIGN §4 asks for (fencing tokens, conditional release, a
 * re-check after every wake).
 *
 * Ordering. A claim is an ephemeral sequential node
 * `<lock node>/<guid>-<read|write>-<seq>` of the session, holding the holder
 * record. Its sequence suffix is its place in the queue (queue.ts); its
 * `czxid` is its fencing token. Missing parents are created (persistent) when
 * the create reports NO_NODE. A create whose answer was lost to a dropped
 * connection is recovered, after reconnecting, by looking for our GUID among
 * the children; a duplicate that may still appear later is removed.
 *
 * What "held" means. A claim is granted when no older claim blocks it. Right
 * after the create we read, in one round trip, the children and our own node
 * (its `czxid`, and a data watch that later reports its deletion). A waiter
 * sets a watch on the one claim that blocks it and sleeps; on every wake it
 * reads the children again (and the lock node's departure record): if our own
 * node is gone (deleted by hand), it claims again; if the session is gone, the
 * wait fails. Nothing is polled.
 *
 * How loss is detected: see held-lock.ts (our node's deletion) and session.ts
 * (the session's expiry). Withdrawal (abort, timeout, tryAcquire refused) and
 * release delete our node at its version, never a blind delete.
 *
 * @internal
 * @module
 */
import { randomUUID } from 'node:crypto';
import { SessionLostError } from '../../errors.js';
import type { LockRequest, PredecessorReport } from '../../distributed/driver.js';
import { sessionHex, ZkEventType, zxid, type ZkClient, type ZkEvent, type ZkStat } from './client.js';
import { ownWatch, ZkHeldLock, type OwnWatch } from './held-lock.js';
import { isConnectionLoss, isSessionGone, mapError, ZkCode, zkCode } from './map-error.js';
import type { ZkPaths } from './paths.js';
import { blocker, toQueue, wouldGrant, type QueueEntry } from './queue.js';
import { decodeBreak, departureOf, encodeHolder } from './record.js';
import { ZkSession } from './session.js';

/** Why a waiter woke up. */
type Wake = 'deleted' | 'vanished' | 'aborted' | 'ended';

/** A read of the queue, with what else was asked in the same round trip. */
interface QueueRead {
  readonly queue: QueueEntry[];
  /** Our claim node's stat (first read after a create). */
  readonly own?: ZkStat | undefined;
  /** The lock node's stat (reads after a wake). */
  readonly dir?: ZkStat | undefined;
  /** Whether the session of the claim we waited on still lives (reads after a wake). */
  readonly waitedAlive?: boolean | undefined;
}

/** The claim we waited on last, for the predecessor report. */
interface Waited {
  readonly entry: QueueEntry;
  readonly token: bigint;
  /** Its session (`0x…`). */
  readonly session: string;
}

/**
 * Claim `request.name` and, if `wait`, wait until granted. Resolves with the
 * held lock, or `undefined` when `wait` is false and the lock is taken. On
 * abort, withdraws the claim and rejects with `signal.reason`.
 *
 * @example
 * ```ts
 * const lock = await acquireLock(paths, request, signal, true);
 * await lock!.release();
 * ```
 */
export async function acquireLock(
  paths: ZkPaths,
  request: LockRequest,
  signal: AbortSignal | undefined,
  wait: boolean,
): Promise<ZkHeldLock | undefined> {
  const session = request.session;
  if (!(session instanceof ZkSession)) throw new TypeError('zookeeper driver: the session was not opened by this driver');
  signal?.throwIfAborted();
  if (!wait && !(await freeNow(session.client, paths, request))) return undefined;
  return new Claim(paths, session, request).run(signal, wait);
}

/** tryAcquire's pre-check: one read, and no write at all when the lock is visibly taken. */
async function freeNow(client: ZkClient, paths: ZkPaths, request: LockRequest): Promise<boolean> {
  try {
    return wouldGrant(toQueue(await client.getChildren(paths.lockDir(request.name))), request.mode);
  } catch (error) {
    if (zkCode(error) === ZkCode.NO_NODE) return true;
    throw mapError(error, `checking "${request.name}"`);
  }
}

/** One claim, from its creation to its grant or withdrawal. */
class Claim {
  readonly #paths: ZkPaths;
  readonly #session: ZkSession;
  readonly #client: ZkClient;
  readonly #request: LockRequest;
  readonly #dir: string;
  readonly #own: OwnWatch;
  #guid = randomUUID();
  /** Our node's name and path, once created. */
  #node: string | undefined;
  #path: string | undefined;
  #version = 0;
  #token = 0n;
  /** Set when a create had to be recovered by its GUID. */
  #recovered = false;
  #wake: ((why: Wake) => void) | undefined;
  /** A wake that arrived while nobody was waiting for one. */
  #missed: Wake | undefined;

  constructor(paths: ZkPaths, session: ZkSession, request: LockRequest) {
    this.#paths = paths;
    this.#session = session;
    this.#client = session.client;
    this.#request = request;
    this.#dir = paths.lockDir(request.name);
    this.#own = ownWatch((event) => this.#onOwnEvent(event));
  }

  /** Claim, wait, and hand over to a ZkHeldLock; or withdraw. */
  async run(signal: AbortSignal | undefined, wait: boolean): Promise<ZkHeldLock | undefined> {
    const onAbort = (): void => this.#signal('aborted');
    signal?.addEventListener('abort', onAbort, { once: true });
    // A sleeping waiter must not outlive its session or client, whoever passed the signal.
    const stopWatchingEnd = this.#client.onEnded(() => this.#signal('ended'));
    try {
      let read = await this.#claim(signal);
      let waited: Waited | undefined;
      for (;;) {
        if (signal?.aborted) throw signal.reason;
        const mine = read.queue.find((entry) => entry.node === this.#node);
        if (mine === undefined) {
          // Our node was deleted while our session lives (by hand): claim again.
          read = await this.#claim(signal);
          continue;
        }
        const pred = blocker(this.#withoutStrays(read.queue), mine);
        if (pred === undefined) return await this.#grant(read, waited);
        if (!wait) {
          await this.#withdraw();
          return undefined;
        }
        const watched = await this.#retrying(signal, () => this.#watch(pred));
        if (watched !== undefined) {
          waited = { entry: pred, token: zxid(watched.czxid), session: sessionHex(watched.ephemeralOwner) };
          const why = await this.#sleep();
          if (why === 'aborted') throw signal?.reason;
          if (why === 'ended') throw this.#client.endedError();
        }
        const after = waited;
        read = await this.#retrying(signal, () => this.#read(after));
      }
    } catch (error) {
      await this.#withdraw();
      throw signal?.aborted ? signal.reason : isSessionGone(error) ? lost(error) : mapError(error, `waiting for "${this.#request.name}"`);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      stopWatchingEnd();
    }
  }

  /** Create our node (again, after a vanishing: with a new GUID) and read the queue and our node. */
  async #claim(signal: AbortSignal | undefined): Promise<QueueRead> {
    for (;;) {
      if (this.#node !== undefined) this.#guid = randomUUID();
      this.#node = this.#path = undefined;
      const path = await this.#create(signal);
      this.#path = path;
      this.#node = path.slice(path.lastIndexOf('/') + 1);
      const read = await this.#retrying(signal, () => this.#read('own'));
      if (read.own !== undefined) {
        this.#token = zxid(read.own.czxid);
        this.#version = read.own.version;
        return read;
      }
      signal?.throwIfAborted(); // deleted right after its creation: claim again, unless given up
    }
  }

  /**
   * The create, with its two recoveries: missing parents are created, and a
   * create whose answer was lost is looked up by our GUID after reconnecting.
   */
  async #create(signal: AbortSignal | undefined): Promise<string> {
    const prefix = this.#paths.claimPrefix(this.#dir, this.#guid, this.#request.mode);
    const data = holderRecord(this.#request.owner, this.#session.ttlMs);
    for (;;) {
      try {
        return await this.#client.create(prefix, data, 'ephemeralSequential');
      } catch (error) {
        if (zkCode(error) === ZkCode.NO_NODE) {
          await this.#retrying(signal, () => this.#client.mkdirp(this.#dir));
          continue;
        }
        if (!isConnectionLoss(error)) throw error;
        this.#recovered = true;
        const found = await this.#retrying(signal, () => this.#findByGuid());
        if (found !== undefined) return found;
      }
    }
  }

  async #findByGuid(): Promise<string | undefined> {
    const children = await this.#client.getChildren(this.#dir).catch((error: unknown) => {
      if (zkCode(error) === ZkCode.NO_NODE) return [];
      throw error;
    });
    const node = toQueue(children).find((entry) => entry.guid === this.#guid)?.node;
    return node === undefined ? undefined : `${this.#dir}/${node}`;
  }

  /**
   * The children, plus in the same round trip either our own node (with the
   * watch that reports its deletion: right after a create), or, after a wake,
   * the lock node's stat and whether the session of the claim we waited on lives.
   */
  async #read(extra: 'own' | Waited | undefined): Promise<QueueRead> {
    if (extra === 'own') {
      // `exists` rather than `getData`: the same watch and stat, without reading back our record.
      const [names, stat] = await Promise.all([this.#client.getChildren(this.#dir), this.#client.exists(this.#path!, this.#own.watcher)]);
      return { queue: toQueue(names), own: stat ?? undefined };
    }
    const listing = this.#client.getChildrenAndStat(this.#dir);
    const alive = extra === undefined ? undefined : this.#client.exists(this.#paths.session(extra.session)).then((stat) => stat !== null);
    const [{ children, stat }, waitedAlive] = await Promise.all([listing, alive]);
    return { queue: toQueue(children), dir: stat, waitedAlive };
  }

  /** Watch the claim that blocks us; `undefined` when it is gone already (read again). */
  async #watch(pred: QueueEntry): Promise<ZkStat | undefined> {
    const watcher = (event: ZkEvent): void => {
      if (event.type === ZkEventType.DELETED || event.type === ZkEventType.DATA_CHANGED) this.#signal('deleted');
    };
    try {
      return (await this.#client.getData(`${this.#dir}/${pred.node}`, watcher)).stat;
    } catch (error) {
      if (zkCode(error) === ZkCode.NO_NODE) return undefined;
      throw error;
    }
  }

  #sleep(): Promise<Wake> {
    if (this.#missed !== undefined) {
      const why = this.#missed;
      this.#missed = undefined;
      return Promise.resolve(why);
    }
    return new Promise<Wake>((resolve) => {
      this.#wake = resolve;
    });
  }

  #signal(why: Wake): void {
    const wake = this.#wake;
    if (wake !== undefined) {
      this.#wake = undefined;
      wake(why);
    } else if (this.#missed === undefined || rank(why) > rank(this.#missed)) {
      this.#missed = why;
    }
  }

  #onOwnEvent(event: ZkEvent): void {
    if (event.type === ZkEventType.DELETED) this.#signal('vanished');
  }

  /** Granted: hand our node (and its watch) to a held lock. */
  async #grant(read: QueueRead, waited: Waited | undefined): Promise<ZkHeldLock> {
    const predecessor = waited === undefined ? undefined : await this.#report(read, waited);
    return new ZkHeldLock({
      paths: this.#paths,
      session: this.#session,
      name: this.#request.name,
      path: this.#path!,
      version: this.#version,
      token: this.#token,
      own: this.#own,
      recoveredGuid: this.#recovered ? this.#guid : undefined,
      predecessor,
    });
  }

  /**
   * How our predecessor left. A break writes the lock node's data (so its
   * mzxid passes our token): then the departure record says whether it
   * displaced the claim we waited on. Otherwise that claim's session tells:
   * alive, it let go (released, or withdrew); gone, it expired (or released
   * and closed its session at once).
   */
  async #report(read: QueueRead, waited: Waited): Promise<PredecessorReport> {
    const token = waited.token;
    if (read.dir !== undefined && zxid(read.dir.mzxid) > this.#token) {
      const name = this.#request.name;
      const [dir, record] = await Promise.all([
        this.#client.getData(this.#dir).catch(() => undefined),
        this.#client.getData(this.#paths.broken(name)).then(({ data }) => decodeBreak(data), () => undefined),
      ]);
      if (departureOf(dir?.data, token) === 'broken') {
        return record === undefined ? { outcome: 'broken', token } : { outcome: 'broken', token, breakRecord: record };
      }
    }
    if (read.waitedAlive === undefined) return { outcome: 'unknown', token };
    return { outcome: read.waitedAlive ? 'released' : 'expired', token };
  }

  /** Claims of ours that a recovered create may have duplicated: not in our way, and removed. */
  #withoutStrays(queue: QueueEntry[]): QueueEntry[] {
    const strays = queue.filter((entry) => entry.guid === this.#guid && entry.node !== this.#node);
    if (strays.length === 0) return queue;
    for (const stray of strays) {
      this.#session.reaper.withdraw(() => this.#client.remove(`${this.#dir}/${stray.node}`, -1).catch(ignoreNoNode));
    }
    return queue.filter((entry) => !strays.includes(entry));
  }

  /** Delete our node (at its version), or leave that to the reaper if ZooKeeper cannot confirm now. */
  async #withdraw(): Promise<void> {
    const path = this.#path;
    if (path === undefined && !this.#recovered) return;
    const remove = async (): Promise<void> => {
      const target = path ?? (await this.#findByGuid());
      if (target !== undefined) await this.#client.remove(target, path === undefined ? -1 : this.#version).catch(ignoreNoNode);
    };
    this.#path = this.#node = undefined;
    try {
      await remove();
    } catch (error) {
      if (isConnectionLoss(error)) this.#session.reaper.withdraw(remove);
    }
  }

  /**
   * Run `call`, and again after reconnecting while the connection drops (every
   * call passed here is a read or is idempotent). Ends with the signal's reason
   * on abort and SessionLostError when the session expires.
   */
  async #retrying<T>(signal: AbortSignal | undefined, call: () => Promise<T>): Promise<T> {
    for (;;) {
      try {
        return await call();
      } catch (error) {
        if (!isConnectionLoss(error)) throw error;
        await this.#client.whenConnected(signal);
      }
    }
  }
}

/** Holder records by owner: a coordinator's owner never changes, so encode it once per TTL. */
const records = new WeakMap<object, { ttlMs: number; data: Buffer }>();

function holderRecord(owner: LockRequest['owner'], ttlMs: number): Buffer {
  const cached = records.get(owner);
  if (cached !== undefined && cached.ttlMs === ttlMs) return cached.data;
  const data = encodeHolder(owner, ttlMs);
  records.set(owner, { ttlMs, data });
  return data;
}

/** Which wake wins when several arrive before anyone looks. */
function rank(why: Wake): number {
  return { deleted: 0, vanished: 1, aborted: 2, ended: 3 }[why];
}

function lost(error: unknown): SessionLostError {
  return error instanceof SessionLostError ? error : new SessionLostError('zookeeper session expired while waiting for a lock', { cause: error });
}

function ignoreNoNode(error: unknown): void {
  if (zkCode(error) !== ZkCode.NO_NODE && zkCode(error) !== ZkCode.BAD_VERSION && !isSessionGone(error)) throw error;
}
