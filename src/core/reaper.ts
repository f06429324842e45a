/**
 * Claims the core failed to delete (the engine unreachable while releasing,
 * withdrawing after an abort, or while a create went unanswered) keep being
 * deleted in the background: while the session's lease is kept alive such a
 * claim would block its name for ever.
 *
 * Every deletion is the engine's conditional one (on the claim's token, or on
 * our session for an unconfirmed create) and claim ids are never reused, so a
 * late deletion never removes anyone else's claim. Attempts follow the core's
 * one backoff and stop when the deletion succeeds (a claim already gone counts)
 * or the driver closes (revoking the session removes what is left). Timers
 * never keep the process alive.
 *
 * @internal
 * @module
 */
import { backoffMs } from './backoff.js';

/**
 * Background deleter of orphaned claims, one per driver.
 *
 * @example
 * ```ts
 * reaper.withdraw(`${session.id}/${request.id}`, () => engine.deleteClaim(request, claim));
 * ```
 */
export class Reaper {
  readonly #pending = new Map<string, NodeJS.Timeout>();
  #closed = false;

  /** How many claims are still waiting to be deleted. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Keep calling `attempt` (at most one pending per `id`) until it resolves or the reaper closes. */
  withdraw(id: string, attempt: () => Promise<void>, tries = 0): void {
    if (this.#closed || this.#pending.has(id)) return;
    const timer = setTimeout(() => {
      this.#pending.delete(id);
      if (this.#closed) return;
      attempt().then(
        () => {},
        () => this.withdraw(id, attempt, tries + 1),
      );
    }, backoffMs(tries + 1));
    timer.unref();
    this.#pending.set(id, timer);
  }

  /** Stop retrying. */
  close(): void {
    this.#closed = true;
    for (const timer of this.#pending.values()) clearTimeout(timer);
    this.#pending.clear();
  }
}
