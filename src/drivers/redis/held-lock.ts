/**
 * A granted lock on Redis: its token, how it learns it was lost, and the
 * conditional release.
 *
 * Held means: the name's holder record (the `lock:` key, or our entry in
 * `readers:`) carries our token, session and claim number. Loss arrives as a
 * `b|<claim>` message (broken: who broke it is then read from the name's
 * tombstone, within a bounded time), or from a keepalive that no longer finds
 * the record; the PX deadline itself is the session's, which the Session's
 * local deadline reports first.
 *
 * @internal
 * @module
 */
import { LossReporter } from '../../distributed/loss-reporter.js';
import type { LossReason } from '../../errors.js';
import type { DriverLock, PredecessorReport } from '../../distributed/driver.js';
import type { RedisContext } from './context.js';
import { mapError } from './map-error.js';
import { decodeLast } from './record.js';
import type { ClaimListener, RedisSession } from './session.js';

/** The longest we wait to learn who broke a lock before reporting the loss anyway. */
const DIAGNOSIS_BOUND_MS = 1_000;

/**
 * What identifies a grant on Redis.
 *
 * @example
 * ```ts
 * const grant: Grant = { name: 'jobs', mode: 'x', claim: '1', token: 17n, since: new Date(), predecessor: undefined };
 * ```
 */
export interface Grant {
  readonly name: string;
  readonly mode: 'x' | 's';
  readonly claim: string;
  readonly token: bigint;
  readonly since: Date;
  readonly predecessor: PredecessorReport | undefined;
}

/**
 * A lock granted by Redis.
 *
 * @example
 * ```ts
 * lock.onLost = (reason, detail) => guard.markLost(reason, detail);
 * await lock.release(); // removes the record only if it is still this grant's
 * ```
 */
export class RedisHeldLock extends LossReporter  implements DriverLock, ClaimListener {
  readonly token: bigint;
  readonly since: Date;
  readonly predecessor?: PredecessorReport;
  readonly #ctx: RedisContext;
  readonly #session: RedisSession;
  readonly #grant: Grant;
  #state: 'held' | 'lost' | 'released' = 'held';
  #release: Promise<void> | undefined;
  readonly #renewal: readonly string[];

  constructor(ctx: RedisContext, session: RedisSession, grant: Grant) {
    super();
    this.#ctx = ctx;
    this.#session = session;
    this.#grant = grant;
    this.token = grant.token;
    this.since = grant.since;
    if (grant.predecessor !== undefined) this.predecessor = grant.predecessor;
    this.#renewal = [grant.mode, grant.claim, grant.token.toString(), grant.name];
    session.register(grant.claim, this);
  }

  /** Remove our record if it is still this grant's. Already gone is success. */
  release(): Promise<void> {
    this.#release ??= this.#releaseOnce();
    return this.#release;
  }

  renewal(): readonly string[] | undefined {
    return this.#state === 'held' ? this.#renewal : undefined;
  }

  wake(): void {
    // a held claim has nothing to wait for
  }

  broken(): void {
    if (this.#state !== 'held') return;
    void this.#reportBreak();
  }

  lost(reason: LossReason, detail: string): void {
    if (this.#state !== 'held') return;
    this.#state = 'lost';
    this.reportLoss(reason, detail);
  }

  async #releaseOnce(): Promise<void> {
    const wasLost = this.#state === 'lost';
    this.#state = 'released';
    const { name, mode, claim } = this.#grant;
    try {
      await this.#ctx.client.run('release', [this.#ctx.prefix, this.#session.id, claim, mode, name, this.token.toString()]);
    } catch (error) {
      // Unknown to the session from now on: its next keepalive releases the record.
      if (!wasLost) throw mapError(error, `releasing "${name}"`);
    } finally {
      this.#session.unregister(claim, this);
    }
  }

  /** Say who broke the lock, if the break record can be read in time. */
  async #reportBreak(): Promise<void> {
    let detail = 'it was broken';
    let timer: NodeJS.Timeout | undefined;
    try {
      const read = this.#ctx.client.bound(this.#ctx.client.redis.get(`${this.#ctx.prefix}lock:${this.#grant.name}`));
      const limit = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), DIAGNOSIS_BOUND_MS)));
      const record = decodeLast((await Promise.race([read, limit])) ?? '')?.breakRecord;
      if (record !== undefined) detail = `broken by ${record.by} at ${record.at.toISOString()}: ${record.reason}`;
    } catch {
      // the loss matters more than its explanation
    } finally {
      clearTimeout(timer);
    }
    this.lost('broken', detail);
  }
}
