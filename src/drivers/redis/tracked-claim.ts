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
  /** A wake that no watch took yet. */
  #woken = false;
  #onWake: ((event: WatchEvent) => void) | undefined;
  #onLoss: ((event: WatchEvent) => void) | undefined;

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
    this.#woken = false;
  }

  /** A `w|` message: the claim may be granted now. */
  wake(): void {
    this.#emitWake('gone');
  }

  /** The pub/sub connection came back: messages may have been missed. */
  reconnected(): void {
    this.#emitWake('uncertain');
  }

  /** A `b|` message, or a keepalive that found the grant gone. */
  lose(reason: LossReason): void {
    if (this.#lost !== undefined) return;
    this.#lost = reason;
    const handler = this.#onLoss;
    this.#onLoss = undefined;
    handler?.('gone');
  }

  /** Report the next wake (or the one kept) to `onEvent`, once. */
  watchWake(onEvent: (event: WatchEvent) => void): ClaimWatch {
    if (this.#woken) {
      this.#woken = false;
      onEvent('gone');
      return { cancel: () => {} };
    }
    this.#onWake = onEvent;
    return { cancel: () => void (this.#onWake === onEvent && (this.#onWake = undefined)) };
  }

  /** Report the grant's loss (or the one already seen) to `onEvent`, once. */
  watchLoss(onEvent: (event: WatchEvent) => void): ClaimWatch {
    if (this.#lost !== undefined) {
      onEvent('gone');
      return { cancel: () => {} };
    }
    this.#onLoss = onEvent;
    return { cancel: () => void (this.#onLoss === onEvent && (this.#onLoss = undefined)) };
  }

  #emitWake(event: WatchEvent): void {
    const handler = this.#onWake;
    this.#onWake = undefined;
    if (handler !== undefined) handler(event);
    else this.#woken = true;
  }
}
