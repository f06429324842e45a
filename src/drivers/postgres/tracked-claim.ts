/**
 * One claim as its session knows it: where the session channel's NOTIFYs for
 * it go, what the keepalive checks, and whether the process must stay up for it.
 *
 * Grants. A `g <seq> …` NOTIFY is sent only by a committed transaction that
 * checked our lease was alive, so it is trusted without re-reading: it ends
 * the engine's watch on what is in the way, and the re-check that follows
 * hands the grant over without a request. A grant that arrives while no watch
 * is set (the `acquire` answer and the NOTIFY travel on two connections, in
 * either order) is kept and ends the next watch at once.
 *
 * Loss. An `l <seq> broken|expired` NOTIFY, or a keepalive sent after we knew
 * of the grant that no longer lists it (`'deleted'`), ends the watch on our
 * own claim; a loss seen while no watch is set is kept for the next one.
 *
 * Staying up. While the claim waits, the session connection is held (ref'd):
 * a process waiting for a lock must not exit under its waiter.
 *
 * @internal
 * @module
 */
import type { LossReason } from '../../errors.js';
import type { ClaimWatch, WatchEvent } from '../../core/engine.js';
import { KeptEvent } from '../../core/kept-event.js';
import type { Grant } from './grant.js';

/**
 * A claim of this session, as the session's NOTIFYs and keepalives reach it.
 *
 * @example
 * ```ts
 * const tracked = session.track('3');
 * tracked.hold(connection.hold()); // while it waits
 * const watch = tracked.granting.watch((event) => console.log(event)); // 'gone' once granted
 * ```
 */
export class TrackedClaim {
  readonly seq: string;
  #grant: Grant | undefined;
  /** When this process learned of the grant (performance.now()): renewals sent before cannot list it. */
  #knownAt = Infinity;
  #lost: LossReason | undefined;
  /** The grant's arrival, for the watch on what is in the way (kept if it comes first). */
  readonly granting = new KeptEvent({ sticky: true });
  readonly #loss = new KeptEvent({ sticky: true });
  #letGo: (() => void) | undefined;
  /**
   * Whether the claim waits in the lock manager (its row says `wake_lock`):
   * true from `acquire` on, false once the server moved it to NOTIFY.
   */
  waitsInLockManager = true;
  /** Whether its advisory key may still be held on the session connection (given up by release, or by hand after a loss). */
  holdsKey = true;

  constructor(seq: string) {
    this.seq = seq;
  }

  /** The grant, once the server said so (NOTIFY or an answer). */
  get grant(): Grant | undefined {
    return this.#grant;
  }

  /** Why our grant is gone (`undefined`: it is not known to be). */
  get lost(): LossReason | undefined {
    return this.#lost;
  }

  /** Keep the process up with `letGo` until the claim is granted or forgotten (only the first hold counts). */
  hold(letGo: () => void): void {
    if (this.#letGo === undefined) this.#letGo = letGo;
    else letGo();
  }

  /** Stop keeping the process up for this claim. */
  letGo(): void {
    this.#letGo?.();
    this.#letGo = undefined;
  }

  /** The server granted the claim (the first word wins: every later one carries the same grant). */
  granted(grant: Grant): void {
    if (this.#grant !== undefined) return;
    this.#grant = grant;
    this.#knownAt = performance.now();
    this.letGo();
    this.granting.emit();
  }

  /** A keepalive sent at `sentAt` (performance.now()) did not list the claim as held. */
  missing(sentAt: number): void {
    if (sentAt > this.#knownAt) this.lose('deleted');
  }

  /** An `l` NOTIFY, or a keepalive that found the grant gone. */
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
