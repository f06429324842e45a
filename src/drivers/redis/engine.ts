/**
 * The Redis engine under the recipe core: the scripts of protocol.ts as the
 * core's primitives. The core owns waiting, re-checking, withdrawing, the
 * backoff, the reaper and the held lock's loss signal; Redis keeps what only
 * its scripts can do atomically: the queue, the grant and the token.
 *
 * Ordering. The acquire script grants at once or queues the claim on the
 * server (`try` leaves nothing behind); the token is `INCR`ed by the script
 * that grants, so a waiting claim has none yet, and the read that grants it
 * hands the completed claim back to the core (`ClaimsRead.claim`). To the core
 * a waiting claim sits behind one obstacle (claim.ts); the re-check after a
 * wake is the acquire script again (`again`), which re-checks our own entry:
 * granted, still waiting, queued again if its entry vanished, or told that the
 * session is gone. A retried create is `again` too, so it finds its own grant.
 *
 * Waking. Watching the obstacle means waiting for the first of: our `w|<claim>`
 * message (published only to the first waiter by the script that freed the
 * name), the moment the lease in the way runs out (the script says when;
 * capped at one TTL, which also covers a lost message), or the pub/sub
 * connection coming back (`uncertain`). No polling while Redis can notify.
 *
 * What "held" means, and loss. The name's holder record carries our token,
 * session and claim number, renewed by the session's keepalive (session.ts).
 * Our own claim's watch ends on a `b|<claim>` message (broken) or a keepalive
 * that no longer finds the grant; the reason comes from the keepalive or the
 * name's tombstone. Release and withdrawal are the conditional scripts.
 *
 * Recipes. A claim's data rides in its holder record's owner JSON (record.ts),
 * written by the granting script and replaced by the update script; a name
 * watch subscribes to the channel every claim-changing script publishes to
 * (name-watch.ts).
 *
 * @internal
 * @module
 */
import { SessionLostError, type LossReason } from '../../errors.js';
import type { LockOwner } from '../../contracts/lock-info.js';
import type { BreakRecord, Capabilities, PredecessorReport } from '../../distributed/driver.js';
import { watchUntil } from '../../core/kept-event.js';
import type { ClaimRequest, ClaimsRead, ClaimWatch, Created, Engine, NameEvent, WatchEvent } from '../../core/engine.js';
import type { Scan, ScannedClaim, ScanScope } from '../../core/scan.js';
import { modeCode, obstacleOf, ownClaim, type RedisClaim } from './claim.js';
import type { RedisClient } from './client.js';
import { keyPrefix, nameChannel, type RedisContext } from './context.js';
import { breakHolders, scanClaims } from './listing.js';
import { isTransient, mapError } from './map-error.js';
import { NameWatch } from './name-watch.js';
import { Notifications } from './notifications.js';
import { decodeLast, encodeOwner } from './record.js';
import { RedisSession } from './session.js';
import type { TrackedClaim } from './tracked-claim.js';

/** A read: the acquire script's answer (a granted claim carries the predecessor the script reported). */
export type RedisRead = ClaimsRead<RedisClaim>;

type RedisRequest = ClaimRequest<RedisSession>;

/** The acquire script's answers (protocol.ts). */
type Reply = ['granted', string, string] | ['waiting', number, 'f'?] | ['busy'] | ['lost'];

/** After the lease in the way runs out, a little more: Redis expires a key once its time is strictly past. */
const EXPIRY_SLACK_MS = 2;

const DELETED_DETAIL = 'its record on Redis was deleted or replaced by someone else';

/**
 * Redis's primitives for the recipe core.
 *
 * @example
 * ```ts
 * const driver = new RecipeDriver(new RedisEngine(client, 'deadbolt', redisCapabilities(info, config)));
 * ```
 */
export class RedisEngine implements Engine<RedisSession, RedisClaim, RedisRead> {
  readonly backend = 'redis';
  /** A holder's key expires on the server without running a script: nothing publishes it. */
  readonly silentExpiry = true;
  readonly capabilities: Capabilities;
  readonly #ctx: RedisContext;
  /** Attempts whose create was sent: a repeat asks `again`, which finds a grant the lost answer carried. */
  readonly #tried = new WeakSet<RedisRequest>();
  /** Sessions an acquire script found gone: their waiters fail rather than claim again. */
  readonly #gone = new WeakSet<RedisSession>();

  constructor(client: RedisClient, namespace: string, capabilities: Capabilities) {
    this.capabilities = capabilities;
    this.#ctx = { client, prefix: keyPrefix(namespace), notifications: new Notifications(client.subscriber) };
  }

  openLease(ttlMs: number, owner: LockOwner): Promise<RedisSession> {
    return RedisSession.open(this.#ctx, ttlMs, owner);
  }

  claimId(session: RedisSession): string {
    return session.nextClaim();
  }

  async createClaim(request: RedisRequest): Promise<Created<RedisClaim, RedisRead>> {
    const op = this.#tried.has(request) ? 'again' : 'first';
    this.#tried.add(request);
    const own = ownClaim(request.id, request.mode, 0n);
    const read = await this.#acquire(request, own, op);
    if (read === undefined) throw this.#sessionGone(request);
    return { claim: read.claim ?? own, read };
  }

  /** The `try` script: a grant, or nothing written at all. */
  async claimIfFree(request: RedisRequest): Promise<RedisClaim | undefined> {
    // a repeat after a lost answer: that answer may have been our grant, which would make the name look taken
    if (this.#tried.has(request)) await this.withdrawUnconfirmed(request);
    this.#tried.add(request);
    const reply = await this.#run(request, 'try');
    if (reply[0] === 'busy') return undefined;
    if (reply[0] !== 'granted') throw this.#sessionGone(request);
    return this.#granted(request, reply);
  }

  /** Waiting: the acquire script again. Granted (a held lock verifying itself): its holder record, read only. */
  async readAhead(request: RedisRequest, own: RedisClaim): Promise<RedisRead | undefined> {
    if (own.token === 0n) return this.#acquire(request, own, 'again');
    const { claims } = await scanClaims(this.#ctx, { prefix: request.name, exact: true, survey: false });
    return claims.some((holder) => holder.token === own.token) ? { ahead: [] } : undefined;
  }

  watchClaim(request: RedisRequest, target: RedisClaim, _at: bigint | undefined, onEvent: (event: WatchEvent) => void): ClaimWatch {
    const tracked = this.#track(request);
    if (target.leaseLeftMs === undefined) return tracked.watchLoss(onEvent);
    // the first of: our wake message (or one kept since the read), the lease in the way running out
    return watchUntil(tracked.wake, waitMs(target.leaseLeftMs, request.session.ttlMs, target.foreign === true), onEvent);
  }

  /** Release a grant (on its token), or withdraw a waiting claim (released too, had it been granted unbeknown to us). */
  async deleteClaim(request: RedisRequest, claim: RedisClaim): Promise<void> {
    const { prefix, client } = this.#ctx;
    const { session, name } = request;
    const code = modeCode(request.mode);
    try {
      if (claim.token === 0n) await client.run('withdraw', [prefix, session.id, request.id, code, name]);
      else await client.run('release', [prefix, session.id, request.id, code, name, claim.token.toString()]);
    } finally {
      // unknown to the session from now on: if this failed, its keepalive withdraws it (or lets the grant lapse)
      session.forget(request.id);
    }
  }

  async withdrawUnconfirmed(request: RedisRequest): Promise<void> {
    await this.deleteClaim(request, ownClaim(request.id, request.mode, 0n));
  }

  /** The script said the session is gone: fail. Otherwise (a grant broken before its answer came) claim again. */
  async claimVanished(request: RedisRequest): Promise<void> {
    request.session.forget(request.id);
    if (this.#gone.has(request.session)) throw this.#sessionGone(request);
  }

  async diagnoseLoss(request: RedisRequest): Promise<[LossReason, string]> {
    if (this.#track(request).lost !== 'broken') return ['deleted', DELETED_DETAIL];
    const { client, prefix } = this.#ctx;
    // the departure record is in last:, or on lock: where an older version left it
    const departed = (await client.bound(client.redis.get(`${prefix}last:${request.name}`))) ?? (await client.bound(client.redis.get(`${prefix}lock:${request.name}`)));
    const record = decodeLast(departed ?? '')?.breakRecord;
    if (record === undefined) return ['broken', 'it was broken (its token is in the break record)'];
    return ['broken', `broken by ${record.by} at ${record.at.toISOString()}: ${record.reason}`];
  }

  /** The granting script read how the predecessor left (its tombstone, or its lease ran out). */
  async predecessor(_request: RedisRequest, _waited: RedisClaim, read: Promise<RedisRead | undefined>): Promise<PredecessorReport> {
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

  /** Subscribe the name's channel, which every script that changes a claim of the name publishes to (name-watch.ts). */
  async watchName(name: string, onEvent: (event: NameEvent) => void): Promise<ClaimWatch> {
    const watch = new NameWatch(this.#ctx.notifications, nameChannel(this.#ctx.prefix, name), onEvent);
    try {
      await watch.arm();
    } catch (error) {
      throw this.mapError(error, `watching "${name}"`);
    }
    return watch;
  }

  /**
   * The update script: our holder record with the new data, only while it is
   * still this grant's; it publishes to the name's watchers. The record keeps
   * its token, session and claim, which is all that our own claim's watch and
   * the keepalive look at: an update is never taken for a loss.
   */
  async updateData(request: RedisRequest, claim: RedisClaim, data: string): Promise<boolean> {
    if (claim.token === 0n) return false; // never granted: there is no record to update
    const { session, name, mode, owner } = request;
    const args = [this.#ctx.prefix, session.id, request.id, modeCode(mode), name, claim.token.toString(), encodeOwner(owner, data)];
    return (await this.#ctx.client.run('update', args)) === 1;
  }

  close(): Promise<void> {
    return this.#ctx.client.close();
  }

  /** One acquire script call for `own` (`first` or `again`), as a read; `undefined` when the session is gone. */
  async #acquire(request: RedisRequest, own: RedisClaim, op: 'first' | 'again'): Promise<RedisRead | undefined> {
    const tracked = this.#track(request);
    tracked.sent();
    const reply = await this.#run(request, op);
    switch (reply[0]) {
      case 'granted':
        return { ahead: [], claim: this.#granted(request, reply) };
      case 'waiting':
        return { ahead: [obstacleOf(own, reply[1], reply[2] === 'f')] };
      default:
        this.#gone.add(request.session); // 'lost'; 'busy' answers only `try`
        return undefined;
    }
  }

  #run(request: RedisRequest, op: 'try' | 'first' | 'again'): Promise<Reply> {
    const { session, name, mode, owner, data } = request;
    const args = [this.#ctx.prefix, session.id, request.id, modeCode(mode), name, encodeOwner(owner, data), String(Date.now()), op];
    return this.#ctx.client.run('acquire', args) as Promise<Reply>;
  }

  /** Our claim as the script granted it: its token, renewed from now on, and the predecessor the script read. */
  #granted(request: RedisRequest, [, token, tombstone]: ['granted', string, string]): RedisClaim {
    this.#track(request).granted(BigInt(token));
    return ownClaim(request.id, request.mode, BigInt(token), decodeLast(tombstone));
  }

  #track(request: RedisRequest): TrackedClaim {
    return request.session.track(request.id, modeCode(request.mode), request.name);
  }

  #sessionGone(request: RedisRequest): SessionLostError {
    this.#gone.add(request.session);
    return new SessionLostError(`Redis: session ${request.session.id} is gone (expired or deleted) while claiming "${request.name}"`);
  }
}

/**
 * How long to wait for a message before looking again: until the lease in the
 * way runs out, at most one TTL. A foreign holder's release (its DEL) is
 * published by nobody, and keyspace notifications are a server setting we
 * cannot count on: for it alone the bound is TTL/2, the only re-check the
 * driver makes without being told (a foreign key without expiry: only that).
 */
function waitMs(leaseLeftMs: number, ttlMs: number, foreign: boolean): number {
  const bound = foreign ? Math.max(1, Math.floor(ttlMs / 2)) : ttlMs;
  return leaseLeftMs < 0 ? bound : Math.min(leaseLeftMs + EXPIRY_SLACK_MS, bound);
}
