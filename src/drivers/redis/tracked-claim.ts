/**
 * One claim as its session knows it: what the keepalive renews (a grant's
 * mode, claim number, token and name) or keeps queued (a waiting claim), and
 * where the session channel's messages for it go.
 *
 * Wakes. A `w|<claim>` message (the script that freed the name publishes it
 * to the first waiter), or the pub/sub connection coming back, ends the wait
 * of the engine's watch on what is in the way. A message that arrives while no
 * watch is set (the acquire script's answer and the message travel on two
 * connections, in either order) is kept and ends the next watch at once,
 * unless a request sent after it answers it: `sent()` forgets it.
 *
 * Loss. A `b|<claim>` message (broken) or a keepalive that no longer finds our
 * grant ends the watch on our own claim; a loss seen while no watch is set is
 * kept for the next one, so none is dropped.
 *
 * @internal
 * @module
 */
import type { LossReason } from '../../errors.js';
import type { ClaimWatch, WatchEvent } from '../../core/engine.js';
import { KeptEvent } from '../../core/kept-event.js';

/** `x` (exclusive) or `s` (shared), as the scripts write modes. */
export type ModeCode = 'x' | 's';

/**
 * A claim of this session, as the session's messages and keepalives reach it.
 *
 * @example
 * ```ts
 * const tracked = session.track('3', 'x', 'jobs');
 * tracked.granted(17n); // the next keepalive renews it
 * const watch = tracked.watchLoss((event) => console.log(event)); // 'gone' when broken
 * ```
 */
export class TrackedClaim {
  readonly claim: string;
  readonly code: ModeCode;
  readonly name: string;
  /** The grant's token, once granted. */
  #token: bigint | undefined;
  /** Why the grant is gone, once it is. */
  #lost: LossReason | undefined;
  /** The wait's wake (`w|` message, or a reconnection), kept until a watch or a request takes it. */
  readonly wake = new KeptEvent({ sticky: false });
  readonly #loss = new KeptEvent({ sticky: true });

  constructor(claim: string, code: ModeCode, name: string) {
    this.claim = claim;
    this.code = code;
    this.name = name;
  }

  /** Why our grant is gone (`undefined`: it is not known to be). */
  get lost(): LossReason | undefined {
    return this.#lost;
  }

  /** For a grant still held: mode, claim, token and name, as the keepalive renews it; else `undefined`. */
  renewal(): readonly string[] | undefined {
    if (this.#token === undefined || this.#lost !== undefined) return undefined;
    return [this.code, this.claim, this.#token.toString(), this.name];
  }

  /** Whether the keepalive should keep this claim queued (it waits, it was not granted). */
  get waiting(): boolean {
    return this.#token === undefined && this.#lost === undefined;
  }

  /** The script granted the claim with `token`: renew it from now on. */
  granted(token: bigint): void {
    this.#token = token;
  }

  /** A request is about to be sent for this claim: its answer covers every wake before it. */
  sent(): void {
    this.wake.forget();
  }

  /** The pub/sub connection came back: messages may have been missed. */
  reconnected(): void {
    this.wake.emit('uncertain');
  }

  /** A `b|` message, or a keepalive that found the grant gone. */
  lose(reason: LossReason): void {
    if (this.#lost !== undefined) return;
    this.#lost = reason;
    this.#loss.emit();
  }

  /** Report the grant's loss (or the one already seen) to `onEvent`, once. */
  watchLoss(onEvent: (event: WatchEvent) => void): ClaimWatch {
    return this.#loss.watch(onEvent);
  }
}
