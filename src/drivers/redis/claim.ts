/**
 * One claim, from the first request to its grant or withdrawal (protocol.ts
 * has the scripts and the ordering rules).
 *
 * Ordering. The acquire script grants at once or queues the claim (`try`
 * leaves nothing behind). A queued claim waits for the first of: a `w|<claim>`
 * message (the script that freed the name publishes it to the first waiter
 * only), the moment the lease in its way runs out (the script says how long;
 * capped at one TTL, which also covers a lost message), or the abort. Then it
 * runs the acquire script again, which re-checks its own entry: granted,
 * still behind someone, queued again if its entry vanished, or told the
 * session is gone. A message that arrives while a request is in flight makes
 * the next wait end at once.
 *
 * On abort the claim is withdrawn (and released, had it been granted unbeknown
 * to us). On any failure the claim is dropped from the session's known claims,
 * so the next keepalive withdraws whatever the lost request may have left.
 *
 * @internal
 * @module
 */
import { SessionLostError } from '../../errors.js';
import type { LockRequest } from '../../distributed/driver.js';
import type { RedisContext } from './context.js';
import { RedisHeldLock } from './held-lock.js';
import { mapError } from './map-error.js';
import { decodeLast, encodeOwner } from './record.js';
import { RedisSession, type ClaimListener } from './session.js';

/** After the lease in the way runs out, a little more: Redis expires a key once its time is strictly past. */
const EXPIRY_SLACK_MS = 2;

type Reply = ['granted', string, string] | ['waiting', number] | ['busy'] | ['lost'];

/**
 * Claim `request.name`; if `wait`, wait until granted. Resolves with the held
 * lock, or `undefined` when `wait` is false and the name is taken. On abort,
 * withdraws the claim and rejects with `signal.reason`.
 *
 * @example
 * ```ts
 * const lock = await acquireClaim(ctx, request, signal, true);
 * await lock!.release();
 * ```
 */
export async function acquireClaim(
  ctx: RedisContext,
  request: LockRequest,
  signal: AbortSignal | undefined,
  wait: boolean,
): Promise<RedisHeldLock | undefined> {
  const session = request.session;
  if (!(session instanceof RedisSession)) throw new TypeError('redis driver: the session was not opened by this driver');
  signal?.throwIfAborted();
  const claim = session.nextClaim();
  const mode = request.mode === 'exclusive' ? 'x' : 's';
  const waiter = new Waiter();
  session.register(claim, waiter);
  const since = Date.now();
  const args = [ctx.prefix, session.id, claim, mode, request.name, encodeOwner(request.owner), String(since), ''];
  try {
    for (let op = wait ? 'first' : 'try'; ; op = 'again') {
      waiter.clear();
      args[7] = op;
      let reply: Reply;
      try {
        reply = (await ctx.client.run('acquire', args)) as Reply;
      } catch (error) {
        throw mapError(error, `claiming "${request.name}"`);
      }
      switch (reply[0]) {
        case 'granted':
          return new RedisHeldLock(ctx, session, {
            name: request.name,
            mode,
            claim,
            token: BigInt(reply[1]),
            since: new Date(since),
            predecessor: decodeLast(reply[2]),
          });
        case 'busy':
          return undefined;
        case 'lost':
          throw new SessionLostError(`Redis: session ${session.id} is gone (expired or deleted) while claiming "${request.name}"`);
      }
      const why = await waiter.wait(waitMs(reply[1], session.ttlMs), signal);
      if (why === 'aborted') {
        await withdraw(ctx, [ctx.prefix, session.id, claim, mode, request.name]);
        throw signal!.reason;
      }
    }
  } finally {
    session.unregister(claim, waiter);
  }
}

/** How long to wait for a message before looking again: until the lease in the way runs out, at most one TTL. */
function waitMs(leaseLeftMs: number, ttlMs: number): number {
  return leaseLeftMs < 0 ? ttlMs : Math.min(leaseLeftMs + EXPIRY_SLACK_MS, ttlMs);
}

/** Take the claim back; if Redis cannot confirm, the next keepalive does it (the claim is forgotten). */
async function withdraw(ctx: RedisContext, args: string[]): Promise<void> {
  await ctx.client.run('withdraw', args).catch(() => {});
}

/** Why a wait ended. */
type Wake = 'woken' | 'timer' | 'aborted';

/** The waiting half of a claim: messages, a timer, the abort. */
class Waiter implements ClaimListener {
  #resolve: ((why: Wake) => void) | undefined;
  /** A message that arrived while nobody was waiting. */
  #woken = false;

  /** Forget earlier messages: the request about to be sent answers them. */
  clear(): void {
    this.#woken = false;
  }

  wake(): void {
    if (this.#resolve !== undefined) this.#resolve('woken');
    else this.#woken = true;
  }

  renewal(): undefined {
    return undefined;
  }

  broken(): void {
    // only a held claim can be broken
  }

  lost(): void {
    // only a held claim can be lost
  }

  wait(ms: number, signal: AbortSignal | undefined): Promise<Wake> {
    if (signal?.aborted) return Promise.resolve('aborted');
    if (this.#woken) return Promise.resolve('woken');
    return new Promise<Wake>((resolve) => {
      const done = (why: Wake): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#resolve = undefined;
        resolve(why);
      };
      const onAbort = (): void => done('aborted');
      const timer = setTimeout(() => done('timer'), ms);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#resolve = done;
    });
  }
}
