/**
 * A granted lock on etcd: its token, the watch on its own key that detects
 * loss, and the conditional release.
 *
 * Held means: our claim key exists with `create_revision == token`. The watch
 * on it (from the claim, handed over at the grant) reports its DELETE; the
 * reason is then read from etcd: our token in the name's break record means
 * "broken", our lease gone means "expired", anything else "deleted". The read
 * is bounded, so a slow etcd delays the report by at most a second. A watch
 * that etcd put on its slow path (writes between the claim and the watch)
 * reports up to ~100 ms late, and only during its first 100 ms; expiry does not
 * depend on it (the Session's local deadline comes first).
 *
 * @internal
 * @module
 */
import { LossReporter } from '../../distributed/loss-reporter.js';
import type { LossReason } from '../../errors.js';
import type { DriverLock, LockRequest, PredecessorReport } from '../../distributed/driver.js';
import type { LockContext } from './lock.js';
import { isTransient, mapError } from './map-error.js';
import { decodeBreak, displacedToken, encodeHolder } from './record.js';
import { EtcdSession } from './session.js';
import type { DeleteWatch, DeleteWatchHandlers } from './watch.js';

/** The longest we wait to learn why a lock was lost before reporting it anyway. */
const DIAGNOSIS_BOUND_MS = 1_000;

/**
 * A lock granted by etcd.
 *
 * @example
 * ```ts
 * lock.onLost = (reason, detail) => guard.markLost(reason, detail);
 * await lock.release(); // deletes the key only if it is still this grant's
 * ```
 */
export class EtcdHeldLock extends LossReporter  implements DriverLock {
  readonly token: bigint;
  readonly since = new Date();
  readonly predecessor?: PredecessorReport;
  readonly #ctx: LockContext;
  readonly #session: EtcdSession;
  readonly #request: LockRequest;
  readonly #key: Buffer;
  #own: DeleteWatch | undefined;
  #state: 'held' | 'lost' | 'released' = 'held';
  #release: Promise<void> | undefined;

  constructor(
    ctx: LockContext,
    session: EtcdSession,
    request: LockRequest,
    key: Buffer,
    token: bigint,
    predecessor: PredecessorReport | undefined,
  ) {
    super();
    this.#ctx = ctx;
    this.#session = session;
    this.#request = request;
    this.#key = key;
    this.token = token;
    if (predecessor !== undefined) this.predecessor = predecessor;
  }

  /**
   * Watch our key for DELETE: take over the claim's watch, or start one at
   * `from` (a revision at which our key was read to exist).
   */
  watchOwnKey(claimWatch: DeleteWatch | undefined, from: bigint): void {
    const handlers: DeleteWatchHandlers = {
      onDelete: () => void this.#gone(),
      onUncertain: () => void this.#verify(),
    };
    if (claimWatch !== undefined) {
      claimWatch.retarget(handlers);
      this.#own = claimWatch;
    } else {
      this.#own = this.#ctx.watches.onDelete(this.#key, from, handlers);
    }
  }

  /**
   * Record the grant time in the holder record (it says when the claim was
   * made, which for a waiter is not when it got the lock). Best effort, in the
   * background; conditional on our token, and keeps the key on our lease.
   */
  stampGrantTime(): void {
    this.#ctx.client.etcd.kv
      .txn({
        compare: [{ key: this.#key, target: 'Create', result: 'Equal', create_revision: this.token.toString() }],
        success: [
          {
            request_put: {
              key: this.#key,
              value: encodeHolder(this.#request.owner, this.since),
              lease: this.#session.lease.toString(),
            },
          },
        ],
        failure: [],
      })
      .catch(() => {
        // only listings show it
      });
  }

  /**
   * Delete our key if it is still this grant's (never a blind delete: etcd
   * issue 22082). Already gone is success. When etcd cannot confirm, the
   * reaper keeps trying and the error is reported, unless the lock was lost
   * already (then there is nothing of ours to fail on).
   */
  release(): Promise<void> {
    this.#release ??= this.#releaseOnce();
    return this.#release;
  }

  async #releaseOnce(): Promise<void> {
    const wasLost = this.#state === 'lost';
    this.#state = 'released';
    this.#own?.cancel();
    this.#own = undefined;
    try {
      await this.#ctx.client.etcd.kv.txn({
        compare: [{ key: this.#key, target: 'Create', result: 'Equal', create_revision: this.token.toString() }],
        success: [{ request_delete_range: { key: this.#key } }],
        failure: [],
      });
    } catch (error) {
      this.#ctx.reaper.withdraw(this.#key, this.#session.lease);
      if (!wasLost) throw mapError(error, `releasing "${this.#request.name}"`);
    }
  }

  /** Our key was deleted: find out why, then report the loss. */
  async #gone(): Promise<void> {
    if (this.#state !== 'held') return;
    this.#own?.cancel();
    this.#own = undefined;
    const [reason, detail] = await this.#diagnose();
    this.#lose(reason, detail);
  }

  async #diagnose(): Promise<[LossReason, string]> {
    const client = this.#ctx.client;
    const brokenKey = Buffer.from(this.#ctx.keys.broken(this.#request.name));
    const reads = Promise.all([
      client.etcd.kv.range({ key: brokenKey }, client.deadline(DIAGNOSIS_BOUND_MS)),
      EtcdSession.timeToLive(client, this.#session.lease),
    ]);
    try {
      const [broken, ttl] = await reads;
      const record = decodeBreak(broken.kvs[0]?.value);
      if (record !== undefined && displacedToken(record, this.token)) {
        return ['broken', `broken by ${record.by} at ${record.at.toISOString()}: ${record.reason}`];
      }
      if (ttl === undefined) return ['expired', `session lease ${this.#session.id} expired on etcd`];
      return ['deleted', 'the claim key was deleted on etcd by someone else'];
    } catch {
      return ['deleted', 'the claim key was deleted on etcd (etcd did not say why in time)'];
    }
  }

  /** The watch may have missed events: read our key; re-watch from that read if it is still ours. */
  async #verify(): Promise<void> {
    this.#own?.cancel();
    this.#own = undefined;
    for (let pause = 50; this.#state === 'held'; pause = Math.min(pause * 2, 1_000)) {
      try {
        const res = await this.#ctx.client.etcd.kv.range({ key: this.#key });
        if (this.#state !== 'held') return;
        const kv = res.kvs[0];
        if (kv === undefined || BigInt(kv.create_revision) !== this.token) return void (await this.#gone());
        this.watchOwnKey(undefined, BigInt(res.header.revision) + 1n);
        return;
      } catch (error) {
        // the Session's deadline covers an etcd we cannot reach; keep trying until then
        if (!isTransient(error)) return this.#lose('deleted', `cannot verify the claim key: ${(error as Error).message}`);
        await new Promise((r) => setTimeout(r, pause).unref());
      }
    }
  }

  #lose(reason: LossReason, detail: string): void {
    if (this.#state !== 'held') return;
    this.#state = 'lost';
    this.reportLoss(reason, detail);
  }
}
