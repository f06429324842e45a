/**
 * A deadbolt session on Redis is one key, `<ns>:session:<sid>`, with PX = TTL.
 * One keepalive script renews the key and every lock the session holds (same
 * PX), so the session and its locks expire together, on the server's clock,
 * if the keepalives stop.
 *
 * The timing of keepalives is the Session's (src/distributed/session.ts): this
 * file opens, renews once when asked, and revokes. It also keeps the claims
 * this process knows (waiting or held, tracked-claim.ts), routes the session
 * channel's messages to them, and lists them in every keepalive: held locks to
 * renew, waiting claims to keep (the server withdraws the session's others:
 * requests whose answer was lost).
 *
 * @internal
 * @module
 */
import { randomBytes } from 'node:crypto';
import { BackendError, SessionLostError, type LossReason } from '../../errors.js';
import type { DriverSession } from '../../distributed/driver.js';
import type { LockOwner } from '../../contracts/lock-info.js';
import { sessionKeys, type RedisContext } from './context.js';
import { mapError } from './map-error.js';
import type { ChannelRoute } from './notifications.js';
import { encodeOwner } from './record.js';
import { TrackedClaim, type ModeCode } from './tracked-claim.js';

/**
 * One session on Redis.
 *
 * @example
 * ```ts
 * const session = await RedisSession.open(ctx, 10_000, owner);
 * await session.keepAlive();
 * await session.revoke();
 * ```
 */
export class RedisSession implements DriverSession, ChannelRoute {
  readonly id: string;
  readonly ttlMs: number;
  onLost?: (cause: unknown) => void;
  readonly #ctx: RedisContext;
  readonly #claims = new Map<string, TrackedClaim>();
  #nextClaim = 0;
  /** Requests and messages held back while paused (test hook), in order. */
  #heldBack: (() => void)[] | undefined;

  private constructor(ctx: RedisContext, id: string, ttlMs: number) {
    this.#ctx = ctx;
    this.id = id;
    this.ttlMs = ttlMs;
  }

  /** Subscribe the session's channel, then create its key with PX = `ttlMs`. */
  static async open(ctx: RedisContext, ttlMs: number, owner: LockOwner): Promise<RedisSession> {
    const session = new RedisSession(ctx, randomBytes(12).toString('hex'), ttlMs);
    const { key, channel } = sessionKeys(ctx.prefix, session.id);
    // Subscribed first: nothing can be published to a session before it exists.
    await ctx.notifications.add(channel, session);
    try {
      const created = await ctx.client.run('open', [ctx.prefix, session.id, ttlMs, encodeOwner(owner)]);
      if (created !== 1) throw new BackendError(`Redis: session key ${key} exists already`);
    } catch (error) {
      await ctx.notifications.remove(channel, session);
      throw mapError(error, 'opening the session');
    }
    return session;
  }

  /** A claim number never used before in this session. */
  nextClaim(): string {
    return (++this.#nextClaim).toString(36);
  }

  /** The claim numbered `claim`, known from now on (routed, listed by keepalives); made on first use. */
  track(claim: string, code: ModeCode, name: string): TrackedClaim {
    let tracked = this.#claims.get(claim);
    if (tracked === undefined) this.#claims.set(claim, (tracked = new TrackedClaim(claim, code, name)));
    return tracked;
  }

  /**
   * Forget `claim`. Whatever a lost request left of it goes too: the next
   * keepalive withdraws it from its queue, and a grant no longer renewed
   * lapses within one TTL.
   */
  forget(claim: string): void {
    this.#claims.delete(claim);
  }

  /** One renewal of the session and its locks; reports locks found gone to their listeners. */
  keepAlive(): Promise<void> {
    return this.#whenConnected(() => this.#keepAlive());
  }

  /** Release and withdraw every claim of the session and delete its key. */
  revoke(): Promise<void> {
    return this.#whenConnected(async () => {
      try {
        await this.#ctx.client.run('revoke', [this.#ctx.prefix, this.id, ...this.#held()]);
      } catch (error) {
        throw mapError(error, `revoking session ${this.id}`);
      } finally {
        await this.#ctx.notifications.remove(sessionKeys(this.#ctx.prefix, this.id).channel, this);
      }
    });
  }

  /** A message on the session's channel. */
  message(text: string): void {
    this.#deliver(() => {
      const tracked = this.#claims.get(text.slice(2));
      if (text.startsWith('w|')) tracked?.wake.emit();
      else if (text.startsWith('b|')) tracked?.lose('broken');
    });
  }

  /** The pub/sub connection came back: every waiter looks again. */
  reconnected(): void {
    this.#deliver(() => {
      for (const tracked of this.#claims.values()) tracked.reconnected();
    });
  }

  /**
   * Test hook: cut this session off from Redis, as a partition would: its
   * keepalives and revocation, and the messages for it, wait until {@link resume}.
   * @internal
   */
  pause(): void {
    this.#heldBack ??= [];
  }

  /** Test hook: undo {@link pause}; what was held back goes now. @internal */
  resume(): void {
    const held = this.#heldBack;
    this.#heldBack = undefined;
    for (const release of held ?? []) release();
  }

  async #keepAlive(): Promise<void> {
    const held = this.#held();
    // the claims still waiting, so that the server keeps them queued
    const others = [...this.#claims.values()].filter((tracked) => tracked.waiting).map((tracked) => tracked.claim);
    let reply: unknown;
    try {
      reply = await this.#ctx.client.run('keepAlive', [this.#ctx.prefix, this.id, this.ttlMs, held.length / 4, ...held, ...others]);
    } catch (error) {
      throw mapError(error, `renewing session ${this.id}`);
    }
    const fields = reply as string[];
    if (fields[0] === 'gone') {
      throw new SessionLostError(`Redis: session ${this.id} is gone (its key expired or was deleted, or the server lost its data)`);
    }
    for (let i = 1; i + 1 < fields.length; i += 2) this.#claims.get(fields[i]!)?.lose(fields[i + 1] as LossReason);
  }

  /** (mode, claim, token, name) of every lock held, flat. */
  #held(): string[] {
    const held: string[] = [];
    for (const tracked of this.#claims.values()) {
      const renewal = tracked.renewal();
      if (renewal !== undefined) held.push(...renewal);
    }
    return held;
  }

  #whenConnected<T>(request: () => Promise<T>): Promise<T> {
    const held = this.#heldBack;
    if (held === undefined) return request();
    return new Promise<T>((resolve, reject) => held.push(() => request().then(resolve, reject)));
  }

  #deliver(message: () => void): void {
    if (this.#heldBack !== undefined) this.#heldBack.push(message);
    else message();
  }
}
