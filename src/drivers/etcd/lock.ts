/**
 * The lock protocol on etcd: etcd's `concurrency.Mutex` recipe, with the
 * corrections its history taught (Jepsen's re-check, issue 22082's conditional
 * unlock) and shared mode from its RWMutex recipe.
 *
 * Ordering. A claim is a key `<ns>/locks/<name>/<lease>-<n>-<mode>` attached to
 * the session's lease, created by one transaction
 * `if create_revision(key) == 0 then put(key, holder record, lease) + read the queue
 * else get(key)` (safe to repeat: a retried claim finds its key). Its
 * `create_revision` is its place in the queue and its fencing token: etcd's
 * revisions only grow, survive restarts with the data directory, and a name's
 * later claims always get higher ones.
 *
 * What "held" means. A claim is granted when no older claim blocks it (see
 * queue.ts); it stays held while its key exists with that `create_revision`.
 * A waiter watches only its predecessor, for DELETE, from the revision of its
 * read + 1 (the fast path of etcd's watch), and on every wake re-reads in one
 * transaction guarded by `create_revision(own key) == token`: if its own key is
 * gone (lease expired while waiting, the bug Jepsen found in etcd's lock), it
 * does not proceed as if granted.
 *
 * How loss is detected. From the claim on, the driver watches its own key for
 * DELETE. While held, that event means the lock is lost; the reason is read
 * right after: the name's break record lists our token ("broken"), else our
 * lease is gone ("expired"), else someone deleted the key ("deleted"). The
 * Session's local deadline covers the case where no event can arrive (etcd
 * unreachable). Release is `if create_revision(key) == token then delete(key)`,
 * never a blind delete.
 *
 * @internal
 * @module
 */
import type { IKeyValue, IRangeRequest, ITxnResponse } from 'etcd3';
import { BackendUnavailableError } from '../../errors.js';
import type { LockRequest, PredecessorReport } from '../../distributed/driver.js';
import type { EtcdClient } from './client.js';
import { EtcdHeldLock } from './held-lock.js';
import { rangeEnd, type KeyLayout } from './keys.js';
import { isTransient, mapError } from './map-error.js';
import { blocker, toQueue, type QueueEntry } from './queue.js';
import type { Reaper } from './reaper.js';
import { decodeBreak, displacedToken, encodeHolder } from './record.js';
import { EtcdSession } from './session.js';
import type { DeleteWatch, Watches } from './watch.js';

/** What the protocol needs from the driver. */
export interface LockContext {
  readonly client: EtcdClient;
  readonly keys: KeyLayout;
  readonly watches: Watches;
  readonly reaper: Reaper;
}

/** A read of the queue below our claim, at etcd revision `revision`. */
interface QueueRead {
  readonly revision: bigint;
  /** Claims older than ours (keys only), youngest first. */
  readonly queue: IKeyValue[];
  /** The name's break record, if any. */
  readonly broken: IKeyValue | undefined;
}

/**
 * How many times a claim re-reads and watches again when etcd acknowledged its
 * watch late (writes came in between): past that, the slow path (≤ 100 ms) is
 * accepted rather than adding load to a busy etcd.
 */
const MAX_REWATCHES = 3;

/** Why a waiter woke up. */
type Wake = 'deleted' | 'uncertain' | 'vanished' | 'aborted';

/**
 * Claim `request.name` and, if `wait`, wait until granted. Resolves with the
 * held lock, or `undefined` when `wait` is false and the lock is taken. On
 * abort, withdraws the claim and rejects with `signal.reason`.
 *
 * @example
 * ```ts
 * const lock = await acquireLock(ctx, request, signal, true);
 * lock.onLost = (reason) => console.error('lost', reason);
 * await lock.release();
 * ```
 */
export async function acquireLock(
  ctx: LockContext,
  request: LockRequest,
  signal: AbortSignal | undefined,
  wait: boolean,
): Promise<EtcdHeldLock | undefined> {
  const session = request.session;
  if (!(session instanceof EtcdSession)) throw new TypeError('etcd driver: the session was not opened by this driver');
  signal?.throwIfAborted();
  if (!wait && request.mode === 'exclusive') return tryExclusive(ctx, session, request);
  // A claim that vanished while waiting (someone deleted it, lease alive) is made again.
  for (;;) {
    const claim = new Claim(ctx, session, request);
    const result = await claim.run(signal, wait);
    if (result !== 'vanished') return result;
  }
}

/**
 * tryAcquire in exclusive mode is one transaction that writes nothing when the
 * name is taken: `if every key of the queue has version 0 (none exists) then put`.
 */
async function tryExclusive(ctx: LockContext, session: EtcdSession, request: LockRequest): Promise<EtcdHeldLock | undefined> {
  const prefix = Buffer.from(ctx.keys.queue(request.name));
  const key = Buffer.from(ctx.keys.claim(request.name, session.lease, session.nextClaim(), request.mode));
  let res: ITxnResponse;
  try {
    res = await ctx.client.etcd.kv.txn({
      compare: [{ key: prefix, range_end: rangeEnd(prefix), target: 'Version', result: 'Equal', version: 0 }],
      success: [{ request_put: { key, value: encodeHolder(request.owner, new Date()), lease: session.lease.toString() } }],
      failure: [],
    });
  } catch (error) {
    ctx.reaper.withdraw(key, session.lease); // the put may have been applied
    throw mapError(error, `claiming "${request.name}"`);
  }
  if (!res.succeeded) return undefined;
  const token = BigInt(res.header.revision);
  const lock = new EtcdHeldLock(ctx, session, request, key, token, undefined);
  lock.watchOwnKey(undefined, token + 1n);
  return lock;
}

/** One claim, from its creation to its grant or withdrawal. */
class Claim {
  readonly #ctx: LockContext;
  readonly #session: EtcdSession;
  readonly #request: LockRequest;
  readonly #key: Buffer;
  readonly #queue: IRangeRequest;
  #token = 0n;
  #own: DeleteWatch | undefined;
  #wake: ((why: Wake) => void) | undefined;
  /** A wake that arrived while nobody was waiting for one. */
  #missed: Wake | undefined;
  /** Watches replaced because etcd put them on its slow path. */
  #rewatches = 0;

  constructor(ctx: LockContext, session: EtcdSession, request: LockRequest) {
    this.#ctx = ctx;
    this.#session = session;
    this.#request = request;
    this.#key = Buffer.from(ctx.keys.claim(request.name, session.lease, session.nextClaim(), request.mode));
    const prefix = Buffer.from(ctx.keys.queue(request.name));
    this.#queue = {
      key: prefix,
      range_end: rangeEnd(prefix),
      sort_order: 'Descend',
      sort_target: 'Create',
      keys_only: true,
    };
  }

  /** Claim, wait, and hand over to an EtcdHeldLock; or withdraw. */
  async run(signal: AbortSignal | undefined, wait: boolean): Promise<EtcdHeldLock | undefined | 'vanished'> {
    const onAbort = (): void => this.#signal('aborted');
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      let read = await this.#create(signal);
      let waitedOn: QueueEntry | undefined;
      let waitedLease: Promise<number | undefined | 'unknown'> | undefined;
      for (;;) {
        if (read === undefined || this.#missed === 'vanished') return await this.#vanished();
        if (signal?.aborted) throw await this.#withdraw(signal.reason);
        const pred = blocker(toQueue(this.#ctx.keys, read.queue), this.#token, this.#request.mode);
        if (pred === undefined) break;
        if (!wait) {
          await this.#withdraw(undefined);
          return undefined;
        }
        const why = await this.#waitFor(pred, read.revision);
        if (why === 'aborted') throw await this.#withdraw(signal?.reason);
        if (why === 'vanished') return await this.#vanished();
        const leaseOfPred = (): Promise<number | undefined | 'unknown'> =>
          EtcdSession.timeToLive(this.#ctx.client, pred.lease).catch(() => 'unknown' as const);
        // asked alongside the re-check, so the report costs no extra wait
        if (why === 'deleted') [waitedOn, waitedLease] = [pred, leaseOfPred()];
        read = await this.#check(signal);
        // keys older than ours only ever disappear: a predecessor not read again was deleted
        if (why !== 'deleted' && read !== undefined && !read.queue.some((kv) => kv.key.equals(pred.key))) {
          [waitedOn, waitedLease] = [pred, leaseOfPred()];
        }
      }
      const predecessor = waitedOn && (await report(waitedOn, read.broken, waitedLease));
      const lock = new EtcdHeldLock(this.#ctx, this.#session, this.#request, this.#key, this.#token, predecessor);
      lock.watchOwnKey(this.#own, read.revision + 1n);
      this.#own = undefined; // the held lock owns the watch now
      if (waitedOn !== undefined) lock.stampGrantTime();
      return lock;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.#own?.cancel();
    }
  }

  /**
   * The claim transaction (retried while etcd is transiently unavailable).
   * `undefined`: our claim is gone already.
   */
  async #create(signal: AbortSignal | undefined): Promise<QueueRead | undefined> {
    const key = this.#key;
    const limit = this.#request.mode === 'exclusive' ? 2 : 0; // ours and the one before it
    const res = await this.#retrying(signal, `claiming "${this.#request.name}"`, () =>
      this.#ctx.client.etcd.kv.txn({
        compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
        success: [
          {
            request_put: {
              key,
              value: encodeHolder(this.#request.owner, new Date()),
              lease: this.#session.lease.toString(),
            },
          },
          { request_range: { ...this.#queue, limit } },
        ],
        failure: [{ request_range: { key } }],
      }),
    );
    if (res.succeeded) {
      this.#token = BigInt(res.header.revision);
      this.#watchOwn(this.#token + 1n);
      return { revision: this.#token, queue: res.responses[1]!.response_range.kvs, broken: undefined };
    }
    // A retried claim whose first attempt was applied: our key exists already.
    this.#token = BigInt(res.responses[0]!.response_range.kvs[0]!.create_revision);
    this.#watchOwn(this.#token + 1n);
    return this.#check(signal);
  }

  /**
   * Re-read the queue below us, in one transaction that succeeds only if our
   * claim still exists with our token. `undefined`: our claim is gone.
   */
  async #check(signal: AbortSignal | undefined): Promise<QueueRead | undefined> {
    const limit = this.#request.mode === 'exclusive' ? 1 : 0;
    const res = await this.#retrying(signal, `waiting for "${this.#request.name}"`, () =>
      this.#ctx.client.etcd.kv.txn({
        compare: [{ key: this.#key, target: 'Create', result: 'Equal', create_revision: this.#token.toString() }],
        success: [
          { request_range: { ...this.#queue, limit, max_create_revision: (this.#token - 1n).toString() } },
          { request_range: { key: Buffer.from(this.#ctx.keys.broken(this.#request.name)) } },
        ],
        failure: [],
      }),
    );
    if (!res.succeeded) return undefined;
    // our key existed at this revision: an own watch lost to a reconnection restarts here
    if (this.#own === undefined) this.#watchOwn(BigInt(res.header.revision) + 1n);
    // wakes from before this read are answered by it
    if (this.#missed === 'deleted' || this.#missed === 'uncertain') this.#missed = undefined;
    return {
      revision: BigInt(res.header.revision),
      queue: res.responses[0]!.response_range.kvs,
      broken: res.responses[1]!.response_range.kvs[0],
    };
  }

  /** Wait for the predecessor's DELETE, our own claim's disappearance, or abort. */
  async #waitFor(pred: QueueEntry, readRevision: bigint): Promise<Wake> {
    if (this.#missed !== undefined) return this.#take();
    const watch = this.#ctx.watches.onDelete(pred.key, readRevision + 1n, {
      onDelete: () => this.#signal('deleted'),
      onUncertain: () => this.#signal('uncertain'),
      // on etcd's slow path the wake-up could come ~100 ms late: read and watch again, a few times
      onStale: () => {
        if (this.#rewatches++ < MAX_REWATCHES) this.#signal('uncertain');
      },
    });
    try {
      return await new Promise<Wake>((resolve) => {
        this.#wake = resolve;
      });
    } finally {
      this.#wake = undefined;
      watch.cancel();
    }
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

  #take(): Wake {
    const why = this.#missed!;
    this.#missed = undefined;
    return why;
  }

  /** Watch our own claim for DELETE from `from` on (re-created after an uncertain watch). */
  #watchOwn(from: bigint): void {
    this.#own?.cancel();
    this.#own = this.#ctx.watches.onDelete(this.#key, from, {
      onDelete: () => this.#signal('vanished'),
      // the next check's compare on our key tells whether it still exists
      onUncertain: () => {
        this.#own?.cancel();
        this.#own = undefined;
        this.#signal('uncertain');
      },
    });
  }

  /** Our claim disappeared while waiting: a lost lease is the session's loss, otherwise claim again. */
  async #vanished(): Promise<'vanished'> {
    this.#own?.cancel();
    this.#own = undefined;
    const ttl = await EtcdSession.timeToLive(this.#ctx.client, this.#session.lease);
    if (ttl === undefined) {
      throw mapError(new Error('etcdserver: requested lease not found'), `waiting for "${this.#request.name}"`);
    }
    return 'vanished';
  }

  /**
   * Delete our claim (only while it is the one we made), then hand back `reason`
   * for the caller to throw. If etcd cannot confirm, the reaper keeps trying.
   */
  async #withdraw(reason: unknown): Promise<unknown> {
    this.#own?.cancel();
    this.#own = undefined;
    try {
      await this.#ctx.client.etcd.kv.txn({
        compare: [{ key: this.#key, target: 'Create', result: 'Equal', create_revision: this.#token.toString() }],
        success: [{ request_delete_range: { key: this.#key } }],
        failure: [],
      });
    } catch {
      this.#ctx.reaper.withdraw(this.#key, this.#session.lease);
    }
    return reason;
  }

  /**
   * Run `call`, retrying while etcd is transiently unavailable, for at most one
   * session TTL (past that the session is lost anyway). An abort stops the
   * retries; a claim that may have been made is then withdrawn by the reaper.
   */
  async #retrying<T>(signal: AbortSignal | undefined, doing: string, call: () => Promise<T>): Promise<T> {
    const giveUpAt = Date.now() + this.#session.ttlMs;
    for (let pause = 50; ; pause = Math.min(pause * 2, 1_000)) {
      try {
        return await call();
      } catch (error) {
        if (!isTransient(error) || Date.now() + pause > giveUpAt || signal?.aborted) {
          this.#ctx.reaper.withdraw(this.#key, this.#session.lease);
          if (signal?.aborted && isTransient(error)) throw signal.reason;
          throw isTransient(error)
            ? new BackendUnavailableError(`etcd unavailable for ${this.#session.ttlMs} ms while ${doing}`, { cause: error })
            : mapError(error, doing);
        }
        await new Promise((r) => setTimeout(r, pause));
      }
    }
  }
}

/** Which wake wins when several arrive before anyone looks. */
function rank(why: Wake): number {
  return { deleted: 0, uncertain: 1, vanished: 2, aborted: 3 }[why];
}

/**
 * How the predecessor we waited on let go, as far as etcd can tell: broken if
 * the name's break record lists its token; released if its lease still lives
 * (it deleted its key itself); expired if its lease is gone. A holder that
 * released and then closed its session at once may be reported as expired.
 */
async function report(
  pred: QueueEntry,
  brokenValue: IKeyValue | undefined,
  lease: Promise<number | undefined | 'unknown'> | undefined,
): Promise<PredecessorReport> {
  const record = decodeBreak(brokenValue?.value);
  if (record !== undefined && displacedToken(record, pred.revision)) {
    return { outcome: 'broken', token: pred.revision, breakRecord: record };
  }
  const ttl = await lease;
  if (ttl === 'unknown') return { outcome: 'unknown', token: pred.revision };
  return { outcome: ttl === undefined ? 'expired' : 'released', token: pred.revision };
}
