/**
 * A granted lock on PostgreSQL: its token, how it learns of its loss, and the
 * conditional release.
 *
 * Held means: our claim row (session, claim number) exists with our token and
 * our session's lease has not run out on the server. It is lost when:
 * - `break` deletes it: the server NOTIFYs our session (`'broken'`);
 * - a reaper finds our lease expired and deletes it (`'expired'`, NOTIFYed in
 *   case we still listen; normally the Session's local deadline fired first);
 * - it is deleted any other way (by hand): the next renewal does not list it;
 *   the break record is then read to tell `'broken'` from `'deleted'`.
 * Release deletes the row only if it is still this claim's (a claim number is
 * never reused), so after a loss it deletes nothing of anyone else; once the
 * session is revoked it sends nothing (the revocation deletes the claim).
 *
 * @internal
 * @module
 */
import { LossReporter } from '../../distributed/loss-reporter.js';
import type { LossReason } from '../../errors.js';
import type { DriverLock, LockRequest, PredecessorReport } from '../../distributed/driver.js';
import type { PgContext } from './context.js';
import { decodeBreakRecord, displacedToken, predecessorOf, type Grant } from './grant.js';
import { isClaimGone } from './map-error.js';
import type { ClaimHandler, PostgresSession } from './session.js';
import { runIdempotent, runStatement } from './statements.js';

/**
 * A lock granted by PostgreSQL.
 *
 * @example
 * ```ts
 * lock.onLost = (reason, detail) => guard.markLost(reason, detail);
 * await lock.release(); // deletes the claim only if it is still this grant's
 * ```
 */
export class PostgresHeldLock extends LossReporter  implements DriverLock {
  readonly token: bigint;
  readonly since: Date;
  readonly predecessor?: PredecessorReport;
  readonly #ctx: PgContext;
  readonly #session: PostgresSession;
  readonly #request: LockRequest;
  readonly #seq: string;
  readonly #handler: ClaimHandler;
  /** When this process learned of the grant (performance.now()): renewals sent before cannot list it. */
  readonly #known = performance.now();
  #state: 'held' | 'lost' | 'released' = 'held';
  #release: Promise<void> | undefined;

  constructor(ctx: PgContext, session: PostgresSession, request: LockRequest, seq: string, grant: Grant) {
    super();
    this.#ctx = ctx;
    this.#session = session;
    this.#request = request;
    this.#seq = seq;
    this.token = grant.token;
    this.since = new Date(grant.sinceMs);
    const predecessor = predecessorOf(grant);
    if (predecessor !== undefined) this.predecessor = predecessor;
    this.#handler = {
      lost: (reason) => this.#lose(reason, reason === 'broken' ? 'it was broken (break)' : 'its session lease expired on the server'),
      missing: (sentAt) => {
        if (sentAt > this.#known) void this.#vanished();
      },
    };
    session.register(seq, this.#handler);
  }

  /**
   * Delete our claim if it is still this grant's; already gone is success.
   * When the server cannot confirm, the reaper keeps trying and the error is
   * reported, unless the lock was lost already.
   */
  release(): Promise<void> {
    this.#release ??= this.#releaseOnce();
    return this.#release;
  }

  async #releaseOnce(): Promise<void> {
    const wasLost = this.#state === 'lost';
    this.#state = 'released';
    if (this.#session.revoked) {
      // The session was revoked (lost or closed): its revocation deletes this claim, and a
      // server we cannot reach must not hold up a release that has nothing left to do.
      this.#session.unregister(this.#seq, this.#handler);
      return;
    }
    const claim = { sessionId: this.#session.id, seq: this.#seq, namespace: this.#ctx.namespace, name: this.#request.name };
    try {
      await runIdempotent(
        this.#ctx.pool,
        this.#ctx.statements.release,
        [claim.sessionId, claim.seq, claim.namespace, claim.name, this.token.toString()],
        this.#ctx.config.requestTimeout,
        `releasing "${this.#request.name}"`,
      );
    } catch (error) {
      // Already gone: the lock was lost (and is reported so, by a notification or the next renewal).
      if (isClaimGone(error)) return;
      this.#ctx.reaper.withdraw(claim);
      if (!wasLost) throw error;
    } finally {
      this.#session.unregister(this.#seq, this.#handler);
    }
  }

  /** A renewal did not list our claim: read the break record to say why, then report the loss. */
  async #vanished(): Promise<void> {
    if (this.#state !== 'held') return;
    let broken = false;
    try {
      const res = await runStatement(
        this.#ctx.pool,
        this.#ctx.statements.breakRecord,
        [this.#ctx.namespace, this.#request.name],
        this.#ctx.config.requestTimeout,
        `reading why "${this.#request.name}" was lost`,
      );
      broken = displacedToken(decodeBreakRecord(res.rows[0]?.broken), this.token);
    } catch {
      // report the loss anyway: the claim is gone whatever the reason
    }
    this.#lose(broken ? 'broken' : 'deleted', broken ? 'it was broken (break)' : 'its claim row was deleted on the server');
  }

  #lose(reason: LossReason, detail: string): void {
    if (this.#state !== 'held') return;
    this.#state = 'lost';
    this.#session.unregister(this.#seq, this.#handler);
    this.reportLoss(reason, detail);
  }
}
