/**
 * A deadbolt session on PostgreSQL: a row of `<schema>.sessions` (a lease on
 * the server's clock, `expires_at = now() + ttl` at each renewal) bound to the
 * driver's session connection, which LISTENs on the session's own channel.
 *
 * The timing of keepalives is the Session's (src/distributed/session.ts): this
 * file opens, renews once when asked, and revokes. A renewal never revives an
 * expired lease (others may already have taken its locks), and its answer
 * lists the claims the session holds, so a claim deleted behind our back is
 * noticed within one keepalive interval. It also keeps the claims this process
 * knows (tracked-claim.ts) and routes the channel's NOTIFYs to them.
 *
 * The session is lost, beyond the lease running out, when its connection ends
 * (pg_terminate_backend of `sessions.backend_pid`, a server restart, a network
 * error): the driver then revokes it through the pool, so the locks pass on at
 * once instead of at the lease's end.
 *
 * @internal
 * @module
 */
import { BackendUnavailableError, SessionLostError } from '../../errors.js';
import type { DriverSession } from '../../distributed/driver.js';
import type { LockOwner } from '../../contracts/lock-info.js';
import type { PgContext } from './context.js';
import { parseMessage } from './grant.js';
import { sessionChannel } from './sql.js';
import { runIdempotent } from './statements.js';
import { TrackedClaim } from './tracked-claim.js';

/**
 * One lease in `<schema>.sessions`.
 *
 * @example
 * ```ts
 * const session = await PostgresSession.open(ctx, 15_000, owner);
 * await session.keepAlive();
 * await session.revoke();
 * ```
 */
export class PostgresSession implements DriverSession {
  /** `sessions.id`. */
  readonly id: string;
  readonly ttlMs: number;
  onLost?: (cause: unknown) => void;
  readonly #ctx: PgContext;
  readonly #channel: string;
  readonly #claims = new Map<string, TrackedClaim>();
  #seq = 0;
  #revoked = false;
  #renewing = false;
  #unsubscribe: () => void = () => {};

  private constructor(ctx: PgContext, id: string, ttlMs: number) {
    this.#ctx = ctx;
    this.id = id;
    this.ttlMs = ttlMs;
    this.#channel = sessionChannel(ctx.config.schema, id);
  }

  /** Open a lease of `ttlMs` on the session connection and LISTEN on its channel. */
  static async open(ctx: PgContext, ttlMs: number, owner: LockOwner): Promise<PostgresSession> {
    const timeout = ctx.config.requestTimeout;
    const res = await ctx.connection.request(ctx.statements.openSession.text, [JSON.stringify(owner), ttlMs], timeout, 'opening a session');
    const session = new PostgresSession(ctx, String(res.rows[0].id), ttlMs);
    try {
      await ctx.connection.listen(session.#channel, (payload) => session.#dispatch(payload), timeout);
    } catch (error) {
      await session.revoke().catch(() => {});
      throw error;
    }
    session.#unsubscribe = ctx.connection.onClosed((cause) => {
      session.onLost?.(new SessionLostError(`PostgreSQL: the connection carrying session ${session.id} ended (${describe(cause)})`, { cause }));
    });
    return session;
  }

  /** Whether {@link revoke} was called: every claim of the session is gone or going with it. */
  get revoked(): boolean {
    return this.#revoked;
  }

  /** A claim number never used before in this session. */
  nextSeq(): string {
    return String(++this.#seq);
  }

  /** The claim numbered `seq`, known from now on (its NOTIFYs routed to it, checked by keepalives); made on first use. */
  track(seq: string): TrackedClaim {
    let tracked = this.#claims.get(seq);
    if (tracked === undefined) this.#claims.set(seq, (tracked = new TrackedClaim(seq)));
    return tracked;
  }

  /** The claim numbered `seq` if it is known (tracked and not forgotten). */
  known(seq: string): TrackedClaim | undefined {
    return this.#claims.get(seq);
  }

  /** Forget claim `seq` (released, withdrawn or lost): later NOTIFYs about it are ignored. */
  forget(seq: string): void {
    this.#claims.get(seq)?.letGo();
    this.#claims.delete(seq);
  }

  /**
   * One renewal, bounded by a third of the TTL (a later answer is no use: the
   * Session has sent the next one by then). A renewal still unanswered fails
   * this one at once rather than queueing behind it.
   */
  async keepAlive(): Promise<void> {
    const connection = this.#ctx.connection;
    if (this.#renewing) throw new BackendUnavailableError('PostgreSQL: an earlier renewal on the session connection is still unanswered');
    const bound = Math.min(this.#ctx.config.requestTimeout, Math.max(this.ttlMs / 3, 500));
    const sentAt = performance.now();
    this.#renewing = true;
    const res = await connection.request(this.#ctx.statements.renew.text, [this.id], bound, 'renewing the session lease').finally(() => {
      this.#renewing = false;
    });
    const held = res.rows[0]?.held as string[] | null | undefined;
    if (held === null || held === undefined) {
      throw new SessionLostError(`PostgreSQL: the lease of session ${this.id} is gone (expired or revoked)`);
    }
    const listed = new Set(held);
    for (const tracked of [...this.#claims.values()]) {
      if (!listed.has(tracked.seq)) tracked.missing(sentAt);
    }
  }

  /** Delete the session and its claims (their waiters are granted); through the pool, since the session connection may be the thing that died. */
  async revoke(): Promise<void> {
    this.#revoked = true;
    // the revocation deletes every claim: nothing is left to keep the process up for
    for (const tracked of this.#claims.values()) tracked.letGo();
    this.#unsubscribe();
    this.#ctx.connection.forget(this.#channel);
    await runIdempotent(this.#ctx.pool, this.#ctx.statements.revoke, [this.id], this.#ctx.config.requestTimeout, `revoking session ${this.id}`);
  }

  #dispatch(payload: string): void {
    const message = parseMessage(payload);
    if (message === undefined) return;
    const tracked = this.#claims.get(message.seq);
    if (message.kind === 'granted') tracked?.granted(message.grant);
    else tracked?.lose(message.reason);
  }
}

function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
