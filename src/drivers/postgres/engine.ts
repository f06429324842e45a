/**
 * The PostgreSQL engine under the recipe core: the functions of sql.ts as the
 * core's primitives. The core owns waiting, re-checking, withdrawing, the
 * backoff, the reaper and the held lock's loss signal; PostgreSQL keeps what
 * only its transactions can do atomically: the FIFO queue, the grant and the
 * token, each change under the name's row lock in `tokens`.
 *
 * Ordering. `acquire` grants at once or queues the claim on the server
 * (`tryAcquire` writes nothing when taken); the token is the name's counter,
 * incremented by the transaction that grants, so a waiting claim has none yet
 * and the read that grants it hands the completed claim back to the core
 * (`ClaimsRead.claim`). To the core a waiting claim sits behind one obstacle
 * (claim.ts). A retried create first asks `poll`, which finds a claim whose
 * answer was lost; a retried `tryAcquire` first withdraws what it may have left.
 *
 * Waking. Every claim holds an advisory key on the session connection (so
 * `acquire` and `release` run there), and a waiting claim blocks in the
 * server's lock manager on the key of the claim ahead of it (lock-wait.ts, on
 * a wait connection): the release that grants it gives the key up at COMMIT,
 * which wakes that one backend alone, and the wait answers with the grant.
 * A NOTIFY would wake every listening backend of the database. Grants made by
 * anyone else (a break, a reaper, another acquire's reaping) still NOTIFY our
 * session's channel, and a claim with no wait connection to be had waits by
 * NOTIFY: then watching the obstacle means the first of the grant's NOTIFY and
 * the moment the earliest lease ahead runs out (the server says when, on its
 * clock; no NOTIFY marks an expiry). The re-check after a grant costs no
 * request (the grant is trusted: it was committed after checking our lease);
 * after the timer or a lock wait's `lock_timeout` it is `poll`, which reaps,
 * grants and says where our claim stands. No polling while PostgreSQL can wake us.
 *
 * What "held" means, and loss. Our claim row (session, claim number) exists
 * with our token and our lease has not run out. Our own claim's watch ends on
 * an `l` NOTIFY (`break`, or a reaper finding the lease expired) or a renewal
 * that no longer lists it (deleted by hand; the break record then tells
 * `'broken'` from `'deleted'`). Release and withdrawal are the conditional
 * `release` function, on (session, claim number), never reused.
 *
 * Recipes. A claim's data is a column of its row (`claims.data`, written by
 * `acquire`; a plain lock sends the call it always sent), replaced by
 * `set_data` on (session, claim number, token), which sends nothing our own
 * claim's watch listens to. A name is watched by LISTEN/NOTIFY on its own
 * channel, NOTIFYed only while someone watches it (name-watch.ts).
 *
 * @internal
 * @module
 */
import type { Pool } from 'pg';
import { SessionLostError, type LossReason } from '../../errors.js';
import type { LockOwner } from '../../contracts/lock-info.js';
import type { BreakRecord, Capabilities, PredecessorReport } from '../../distributed/driver.js';
import { watchUntil } from '../../core/kept-event.js';
import type { ClaimRequest, ClaimsRead, ClaimWatch, Created, Engine, NameEvent, WatchEvent } from '../../core/engine.js';
import type { Scan, ScannedClaim, ScanScope } from '../../core/scan.js';
import { displacedToken } from '../../distributed/break-record.js';
import { obstacleOf, ownClaim, type PgClaim } from './claim.js';
import type { PgContext } from './context.js';
import { decodeBreakRecord, grantFromRow, predecessorOf, type Grant, type GrantRow } from './grant.js';
import { breakHolders, scanClaims } from './listing.js';
import { isClaimGone, isClaimTaken, isTransient, mapError } from './map-error.js';
import type { PostgresConfig } from './config.js';
import type { SessionConnection } from './session-connection.js';
import { PostgresSession } from './session.js';
import { makeStatements, runIdempotent, runStatement } from './statements.js';
import { withTimeout } from './connection.js';
import { waitInLockManager } from './lock-wait.js';
import { NameWatches } from './name-watch.js';

/** A read: `acquire`'s or `poll`'s answer, or a grant NOTIFYed (a granted claim carries its predecessor). */
export type PgRead = ClaimsRead<PgClaim>;

type PgRequest = ClaimRequest<PostgresSession>;

/** Added to the server's "wake in" so the lease is surely over when we look (timer and clock granularity). */
const WAKE_SLACK_MS = 5;

/** The longest a Node timer can be set for. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * PostgreSQL's primitives for the recipe core.
 *
 * @example
 * ```ts
 * const driver = new RecipeDriver(new PostgresEngine(pool, connection, config, 'deadbolt', postgresCapabilities(server, config.schema)));
 * ```
 */
export class PostgresEngine implements Engine<PostgresSession, PgClaim, PgRead> {
  readonly backend = 'postgres';
  readonly capabilities: Capabilities;
  readonly #ctx: PgContext;
  /** Attempts whose claim was sent: a repeat looks for what the lost answer left. */
  readonly #tried = new WeakSet<PgRequest>();
  readonly #nameWatches: NameWatches;

  constructor(pools: { queries: Pool; waits: Pool }, connection: SessionConnection, config: PostgresConfig, namespace: string, capabilities: Capabilities) {
    this.capabilities = capabilities;
    this.#ctx = { pool: pools.queries, waits: pools.waits, connection, statements: makeStatements(config.schema), config, namespace };
    this.#nameWatches = new NameWatches(this.#ctx);
  }

  openLease(ttlMs: number, owner: LockOwner): Promise<PostgresSession> {
    return PostgresSession.open(this.#ctx, ttlMs, owner);
  }

  claimId(session: PostgresSession): string {
    return session.nextSeq();
  }

  async createClaim(request: PgRequest): Promise<Created<PgClaim, PgRead>> {
    // tracked before the claim is sent: its grant may be NOTIFYed before `acquire` answers
    const tracked = request.session.track(request.id);
    tracked.hold(this.#ctx.connection.hold());
    try {
      const repeat = this.#tried.has(request);
      this.#tried.add(request);
      const own = ownClaim(request.id, request.mode, 0n);
      const found = repeat ? await this.#poll(request, own) : undefined;
      const read = found ?? (await this.#acquire(request, own, true).catch((error: unknown) => {
        // the first attempt's claim committed while this repeat waited on it: it is ours, read it
        if (repeat && isClaimTaken(error)) return this.#poll(request, own);
        throw error;
      }));
      if (read === undefined) throw sessionGone(request);
      return { claim: read.claim ?? own, read };
    } catch (error) {
      tracked.letGo(); // a retry holds again; an abandoned claim goes to the core's reaper
      throw error;
    }
  }

  /** `acquire` without waiting: a grant, or nothing written at all. */
  async claimIfFree(request: PgRequest): Promise<PgClaim | undefined> {
    // a repeat after a lost answer: that answer may have been our grant, which would make the name look taken
    if (this.#tried.has(request)) await this.withdrawUnconfirmed(request);
    this.#tried.add(request);
    request.session.track(request.id); // a break NOTIFYed before the answer is kept
    let read: PgRead | undefined;
    try {
      read = await this.#acquire(request, ownClaim(request.id, request.mode, 0n), false);
    } finally {
      // not granted (busy, no lease, no answer): nothing of ours to hear about; a lost grant is withdrawn by the retry or the reaper
      if (read?.claim === undefined) request.session.forget(request.id);
    }
    if (read === undefined) throw sessionGone(request);
    return read.claim;
  }

  /** Waiting: the grant NOTIFYed, else `poll`. Granted (a held lock verifying itself): its holder row, read only. */
  async readAhead(request: PgRequest, own: PgClaim): Promise<PgRead | undefined> {
    if (own.token !== 0n) {
      const { claims } = await scanClaims(this.#ctx, { prefix: request.name, exact: true, survey: false });
      return claims.some((holder) => holder.token === own.token) ? { ahead: [] } : undefined;
    }
    const grant = request.session.track(request.id).grant;
    if (grant !== undefined) return { ahead: [], claim: await this.#granted(request, grant) };
    return this.#poll(request, own);
  }

  watchClaim(request: PgRequest, target: PgClaim, _at: bigint | undefined, onEvent: (event: WatchEvent) => void): ClaimWatch {
    const tracked = request.session.track(request.id);
    if (target.wakeInMs === undefined) return tracked.watchLoss(onEvent);
    const wakeInMs = Math.min(Math.max(0, target.wakeInMs) + WAKE_SLACK_MS, MAX_TIMER_MS);
    if (tracked.waitsInLockManager) return waitInLockManager(this.#ctx, request, tracked, wakeInMs, onEvent);
    // the first of: our grant's NOTIFY (or one kept since the read), the earliest lease ahead running out
    // (unref'd timer: the claim holds the session connection, ref'd, while it waits)
    return watchUntil(tracked.granting, wakeInMs, onEvent);
  }

  /**
   * Release a grant (on its token: a claim already gone is a lock lost, nothing
   * to release), or withdraw a waiting claim (released too, had it been granted
   * meanwhile). Nothing to send once the session is revoked: the revocation
   * deletes its claims, and a server we cannot reach must not hold up a release.
   */
  async deleteClaim(request: PgRequest, claim: PgClaim): Promise<void> {
    const { session, name } = request;
    try {
      if (session.revoked) return;
      const token = claim.token === 0n ? null : claim.token.toString();
      const doing = token === null ? `withdrawing the claim on "${name}"` : `releasing "${name}"`;
      const { pool, connection, statements, namespace, config } = this.#ctx;
      // On the session connection, which holds the claim's key and gives it up at COMMIT.
      // Once that connection has ended, the key went with it (and the session): any pooled one will do.
      if (connection.ended) {
        await runIdempotent(pool, statements.release, [session.id, request.id, namespace, name, token, false], config.requestTimeout, doing);
      } else {
        await connection.request(statements.release, [session.id, request.id, namespace, name, token, true], config.requestTimeout, doing);
        const tracked = session.known(request.id);
        if (tracked !== undefined) tracked.holdsKey = false;
      }
    } catch (error) {
      if (!isClaimGone(error)) throw error;
    } finally {
      this.#giveUpKey(request);
      session.forget(request.id);
    }
  }

  async withdrawUnconfirmed(request: PgRequest): Promise<void> {
    await this.deleteClaim(request, ownClaim(request.id, request.mode, 0n));
  }

  /** A revoked session fails the wait. Otherwise claim again: a claim whose lease is gone is told so by `acquire`. */
  async claimVanished(request: PgRequest): Promise<void> {
    this.#giveUpKey(request);
    request.session.forget(request.id);
    if (request.session.revoked) throw sessionGone(request);
  }

  async diagnoseLoss(request: PgRequest, own: PgClaim): Promise<[LossReason, string]> {
    const lost = request.session.track(request.id).lost;
    this.#giveUpKey(request);
    request.session.forget(request.id); // nothing more to hear about it
    if (lost === 'broken') return ['broken', 'it was broken (break)'];
    if (lost === 'expired') return ['expired', 'its session lease expired on the server'];
    // deleted behind our back: by a break whose NOTIFY we did not hear, or by hand
    const broken = displacedToken(await this.#breakRecord(request, `reading why "${request.name}" was lost`), own.token);
    return broken ? ['broken', 'it was broken (break)'] : ['deleted', 'its claim row was deleted on the server'];
  }

  /** The granting transaction recorded how the predecessor left; the re-check carries it. */
  async predecessor(_request: PgRequest, _waited: PgClaim, read: Promise<PgRead | undefined>): Promise<PredecessorReport> {
    return (await read)?.claim?.predecessor ?? { outcome: 'unknown' };
  }

  isTransient(error: unknown): boolean {
    return isTransient(error);
  }

  mapError(error: unknown, doing: string): Error {
    return mapError(error, doing);
  }

  scan(scope: ScanScope): Promise<Scan<ScannedClaim>> {
    return scanClaims(this.#ctx, scope);
  }

  breakHolders(name: string, holders: readonly ScannedClaim[], record: BreakRecord): Promise<boolean> {
    return breakHolders(this.#ctx, name, holders, record);
  }

  /** LISTEN on the name's channel, then flag the name as watched (name-watch.ts). */
  watchName(name: string, onEvent: (event: NameEvent) => void): Promise<ClaimWatch> {
    return this.#nameWatches.watch(name, onEvent);
  }

  /**
   * `set_data`: one UPDATE of our claim row, on (session, claim number, token)
   * with our lease alive; NOTIFYs the name's watchers if there are any. Our
   * own claim's watch hears only `l` NOTIFYs and renewals, which a data
   * update sends none of: it cannot be read as a loss. Through the pool (it
   * needs no advisory key), repeated after a lost answer (same data, same row).
   */
  async updateData(request: PgRequest, claim: PgClaim, data: string): Promise<boolean> {
    if (claim.token === 0n) return false; // not granted: no held claim to update
    const { pool, statements, namespace, config } = this.#ctx;
    const values = [request.session.id, request.id, namespace, request.name, claim.token.toString(), data];
    const res = await runIdempotent(pool, statements.setData, values, config.requestTimeout, `updating the data of "${request.name}"`);
    return res.rows[0]?.updated === true;
  }

  async close(): Promise<void> {
    const timeout = this.#ctx.config.requestTimeout;
    // Idle connections do not keep the process alive; saying goodbye on them must, or a
    // script ending in `await coordinator.close()` would exit before the sockets close.
    const keepAlive = setInterval(() => {}, 1 << 30);
    try {
      // A wait still blocked on the server (its cancel lost) must not hold the close up: bounded.
      const waits = withTimeout(this.#ctx.waits.end(), timeout, 'closing the wait connections').catch(() => {});
      await Promise.all([this.#ctx.connection.close(timeout), this.#ctx.pool.end().catch(() => {}), waits]);
    } finally {
      clearInterval(keepAlive);
    }
  }

  /** One `acquire` call for `own`, as a read; `undefined` when our lease is gone. With `wait` false, `busy` is a read with no claim. */
  async #acquire(request: PgRequest, own: PgClaim, wait: boolean): Promise<PgRead | undefined> {
    const { session, name, mode } = request;
    // on the session connection, which takes the claim's advisory key (wait_grant's waiters block on it)
    const { connection, statements, config, namespace } = this.#ctx;
    const values = [session.id, request.id, namespace, name, mode, wait, true];
    // a plain lock sends the same call as before recipes (a schema of an older revision still serves it)
    const [statement, args] = request.data === undefined ? [statements.acquire, values] : [statements.acquireData, [...values, request.data]];
    const res = await connection.request(statement, args, config.requestTimeout, `claiming "${name}"`);
    const row = res.rows[0] as GrantRow;
    if (row.status === 'busy') return { ahead: [] };
    return this.#readOf(request, own, row);
  }

  /** One `poll` call: it reaps and grants, then says where our claim stands; `undefined` when it is gone. */
  async #poll(request: PgRequest, own: PgClaim): Promise<PgRead | undefined> {
    const { session, name } = request;
    const { pool, statements, namespace, config } = this.#ctx;
    const res = await runStatement(pool, statements.poll, [session.id, request.id, namespace, name], config.requestTimeout, `waiting for "${name}"`);
    return this.#readOf(request, own, res.rows[0] as GrantRow);
  }

  async #readOf(request: PgRequest, own: PgClaim, row: GrantRow): Promise<PgRead | undefined> {
    if (row.status === 'granted') return { ahead: [], claim: await this.#granted(request, grantFromRow(row)) };
    if (row.status === 'waiting') return { ahead: [obstacleOf(own, row.wake_in_ms)] };
    return undefined; // 'gone', 'no-session'
  }

  /** Our claim as the server granted it; a predecessor that was broken comes with its break record (read, best effort). */
  async #granted(request: PgRequest, grant: Grant): Promise<PgClaim> {
    request.session.track(request.id).granted(grant);
    if (grant.predHow === 'broken' && grant.breakRecord === undefined && grant.predToken !== undefined) {
      const record = await this.#breakRecord(request, `reading the break record of "${request.name}"`).catch(() => undefined);
      // the report says "broken" without the record when it cannot be read
      if (record !== undefined && displacedToken(record, grant.predToken)) grant.breakRecord = record;
    }
    return ownClaim(request.id, request.mode, grant.token, predecessorOf(grant));
  }

  /**
   * A claim that is gone without our release (lost, vanished, a failed
   * release) may leave its advisory key held on the session connection: give
   * it up (best effort: the key ends with the connection anyway).
   */
  #giveUpKey(request: PgRequest): void {
    const tracked = request.session.known(request.id);
    const { connection, statements, config } = this.#ctx;
    if (tracked === undefined || !tracked.holdsKey || connection.ended) return;
    tracked.holdsKey = false;
    connection.request(statements.unlockClaim, [request.session.id, request.id], config.requestTimeout, 'giving up a claim key').catch(() => {});
  }

  /** The name's kept break record, if any. */
  async #breakRecord(request: PgRequest, doing: string): Promise<BreakRecord | undefined> {
    const { pool, statements, namespace, config } = this.#ctx;
    const res = await runStatement(pool, statements.breakRecord, [namespace, request.name], config.requestTimeout, doing);
    return decodeBreakRecord(res.rows[0]?.broken);
  }
}

function sessionGone(request: PgRequest): SessionLostError {
  return new SessionLostError(`PostgreSQL: the lease of session ${request.session.id} is gone (expired or revoked)`);
}
