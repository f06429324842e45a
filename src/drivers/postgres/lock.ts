/**
 * The lock protocol on PostgreSQL, client side (the server side is sql.ts).
 *
 * Ordering. A claim is one call of `acquire(session, seq, namespace, name,
 * mode, wait)`: in one transaction it locks the name's row in `tokens`, deletes
 * the claims of expired sessions (holders depart as "expired"), and either
 * grants at once (no waiter ahead, compatible with the holders: the token is
 * the name's counter + 1, updated in this transaction) or queues a waiting
 * claim, whose identity is its place in the FIFO queue. Shared claims are
 * granted together while no exclusive claim is ahead of them.
 *
 * Waiting is driven by the server. Whoever removes a holder (release, break,
 * revoke, a reaper) grants the head of the queue in the same transaction and
 * NOTIFYs the grantee's own session channel, so a release wakes exactly the
 * waiter it grants, with its token, and the waiter sends nothing at all.
 * A lease running out emits no NOTIFY, so each waiter also sets a timer for the
 * moment the earliest lease ahead of it runs out (the server tells it, on its
 * own clock) and then calls `poll`, which reaps and grants; a holder that keeps
 * renewing moves that moment on, so a waiter looks again about every 2/3 of a
 * TTL, never more often. Every keepalive also reaps expired sessions.
 *
 * What "held" means: see held-lock.ts. A waiter trusts a grant notification
 * without re-reading: it is sent only by a committed transaction that checked
 * the waiter's lease was alive. A waiting claim found gone (`poll` says so, our
 * lease is still alive: someone deleted the row) is made again.
 *
 * Cancellation: an aborted wait withdraws the claim (`release`, which also
 * undoes a grant that raced the abort) before rejecting; if the server cannot
 * confirm, the reaper keeps trying. When the session itself is lost or closed,
 * the withdrawal goes to the reaper at once: revoking the session removes the
 * claim anyway.
 *
 * @internal
 * @module
 */
import { ClosedError, SessionLostError } from '../../errors.js';
import type { LockRequest } from '../../distributed/driver.js';
import type { PgContext } from './context.js';
import { decodeBreakRecord, displacedToken, grantFromRow, type Grant, type GrantRow } from './grant.js';
import { PostgresHeldLock } from './held-lock.js';
import { isTransient } from './map-error.js';
import type { OrphanClaim } from './reaper.js';
import { PostgresSession, type ClaimHandler } from './session.js';
import { runIdempotent, runStatement } from './statements.js';

/** Added to the server's "wake in" so the lease is surely over when we look (timer and clock granularity). */
const WAKE_SLACK_MS = 5;

/** How soon a waiter looks again after a poll failed to reach the server. */
const RETRY_POLL_MS = 250;

/** Why a waiter woke up. */
type Wake = 'granted' | 'timer' | 'aborted';

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
  ctx: PgContext,
  request: LockRequest,
  signal: AbortSignal | undefined,
  wait: boolean,
): Promise<PostgresHeldLock | undefined> {
  const session = request.session;
  if (!(session instanceof PostgresSession)) throw new TypeError('postgres driver: the session was not opened by this driver');
  for (;;) {
    signal?.throwIfAborted();
    const result = await new Claim(ctx, session, request).run(signal, wait);
    if (result !== 'vanished') return result;
  }
}

/** One claim, from the `acquire` call to its grant or withdrawal. */
class Claim {
  readonly #ctx: PgContext;
  readonly #session: PostgresSession;
  readonly #request: LockRequest;
  readonly #seq: string;
  readonly #handler: ClaimHandler;
  /** A grant notification, kept if it arrives before we wait for it. */
  #grant: Grant | undefined;
  #wake: ((why: Wake) => void) | undefined;

  constructor(ctx: PgContext, session: PostgresSession, request: LockRequest) {
    this.#ctx = ctx;
    this.#session = session;
    this.#request = request;
    this.#seq = session.nextSeq();
    this.#handler = {
      granted: (grant) => {
        this.#grant ??= grant;
        this.#wake?.('granted');
      },
    };
  }

  async run(signal: AbortSignal | undefined, wait: boolean): Promise<PostgresHeldLock | undefined | 'vanished'> {
    // Registered before the claim is sent: a grant may be NOTIFYed before `acquire` answers.
    this.#session.register(this.#seq, this.#handler);
    const letGo = wait ? this.#ctx.connection.hold() : () => {};
    try {
      const row = await this.#call('acquire', [this.#session.id, this.#seq, this.#ctx.namespace, this.#request.name, this.#request.mode, wait]);
      switch (row.status) {
        case 'granted':
          return this.#held(await this.#complete(grantFromRow(row)));
        case 'busy':
          return undefined;
        case 'no-session':
          throw new SessionLostError(`PostgreSQL: the lease of session ${this.#session.id} is gone (expired or revoked)`);
        default: {
          const grant = await this.#waitForGrant(row.wake_in_ms, signal);
          return grant === 'vanished' ? grant : this.#held(grant);
        }
      }
    } finally {
      letGo();
      this.#session.unregister(this.#seq, this.#handler);
    }
  }

  async #waitForGrant(firstWake: number | null, signal: AbortSignal | undefined): Promise<Grant | 'vanished'> {
    let wakeIn = firstWake ?? 0;
    for (;;) {
      const why = await this.#next(wakeIn, signal);
      if (why === 'aborted') throw await this.#withdraw(signal!.reason);
      if (why === 'granted') return this.#complete(this.#grant!);
      let row: GrantRow | 'aborted';
      try {
        row = await this.#abortable(this.#call('poll', [this.#session.id, this.#seq, this.#ctx.namespace, this.#request.name]), signal);
      } catch (error) {
        if (!isTransient(error)) throw await this.#withdraw(error);
        wakeIn = RETRY_POLL_MS; // the Session's deadline covers a server we cannot reach
        continue;
      }
      if (row === 'aborted') throw await this.#withdraw(signal!.reason);
      if (this.#grant !== undefined) return this.#complete(this.#grant);
      if (row.status === 'granted') return this.#complete(grantFromRow(row));
      if (row.status === 'gone') return 'vanished';
      wakeIn = row.wake_in_ms ?? 0;
    }
  }

  /** Wait for the grant notification, the timer (a lease ahead may have run out) or the abort. */
  #next(wakeIn: number, signal: AbortSignal | undefined): Promise<Wake> {
    if (this.#grant !== undefined) return Promise.resolve('granted');
    if (signal?.aborted) return Promise.resolve('aborted');
    return new Promise((resolve) => {
      const done = (why: Wake): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#wake = undefined;
        resolve(why);
      };
      const onAbort = (): void => done('aborted');
      // Unref'd: the session connection is held (ref'd) for as long as we wait.
      const timer = setTimeout(() => done('timer'), Math.min(Math.max(0, wakeIn) + WAKE_SLACK_MS, 2 ** 31 - 1)).unref();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#wake = done;
    });
  }

  /** `promise`, unless `signal` aborts first (the request then finishes unobserved). */
  #abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T | 'aborted'> {
    if (signal === undefined) return promise;
    if (signal.aborted) return Promise.resolve('aborted');
    let onAbort: () => void = () => {};
    const aborted = new Promise<'aborted'>((resolve) => {
      onAbort = () => resolve('aborted');
      signal.addEventListener('abort', onAbort, { once: true });
    });
    return Promise.race([promise, aborted]).finally(() => signal.removeEventListener('abort', onAbort));
  }

  /** A grant whose predecessor was broken carries the break record: read it (bounded; without it on failure). */
  async #complete(grant: Grant): Promise<Grant> {
    if (grant.predHow !== 'broken' || grant.breakRecord !== undefined || grant.predToken === undefined) return grant;
    try {
      const res = await runStatement(
        this.#ctx.pool,
        this.#ctx.statements.breakRecord,
        [this.#ctx.namespace, this.#request.name],
        this.#ctx.config.requestTimeout,
        `reading the break record of "${this.#request.name}"`,
      );
      const record = decodeBreakRecord(res.rows[0]?.broken);
      if (record !== undefined && displacedToken(record, grant.predToken)) grant.breakRecord = record;
    } catch {
      // the report says "broken" without the record
    }
    return grant;
  }

  #held(grant: Grant): PostgresHeldLock {
    return new PostgresHeldLock(this.#ctx, this.#session, this.#request, this.#seq, grant);
  }

  /** `acquire` or `poll`. A failed `acquire` may still have committed: its claim goes to the reaper. */
  async #call(fn: 'acquire' | 'poll', values: unknown[]): Promise<GrantRow> {
    const doing = `${fn === 'acquire' ? 'claiming' : 'waiting for'} "${this.#request.name}"`;
    try {
      const res = await runStatement(this.#ctx.pool, this.#ctx.statements[fn], values, this.#ctx.config.requestTimeout, doing);
      return res.rows[0] as GrantRow;
    } catch (error) {
      if (fn === 'acquire') this.#ctx.reaper.withdraw(this.#orphan());
      throw error;
    }
  }

  /** Withdraw the claim, then hand back `reason` to throw. */
  async #withdraw(reason: unknown): Promise<unknown> {
    const claim = this.#orphan();
    if (reason instanceof SessionLostError || reason instanceof ClosedError) {
      this.#ctx.reaper.withdraw(claim, 0);
      return reason;
    }
    try {
      await runIdempotent(
        this.#ctx.pool,
        this.#ctx.statements.release,
        [claim.sessionId, claim.seq, claim.namespace, claim.name, null],
        this.#ctx.config.requestTimeout,
        `withdrawing the claim on "${claim.name}"`,
      );
    } catch {
      this.#ctx.reaper.withdraw(claim);
    }
    return reason;
  }

  #orphan(): OrphanClaim {
    return { sessionId: this.#session.id, seq: this.#seq, namespace: this.#ctx.namespace, name: this.#request.name };
  }
}
