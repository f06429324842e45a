/**
 * Withdrawing claims whose removal could not be confirmed (the connection
 * dropped during the delete, or during the create of a claim that was then
 * given up), so that no claim of a live session is left in a queue.
 *
 * Each withdrawal is retried, after reconnecting, until it succeeded or the
 * session is gone (the ensemble then deleted every ephemeral node of it).
 * Withdrawals are idempotent: a claim already gone counts as withdrawn.
 * Timers never keep the process alive.
 *
 * @internal
 * @module
 */
import type { ZkClient } from './client.js';
import { isConnectionLoss } from './map-error.js';

/**
 * Background withdrawals of one session.
 *
 * @example
 * ```ts
 * reaper.withdraw(() => removeClaim(client, path, version)); // fire and forget
 * ```
 */
export class Reaper {
  readonly #client: ZkClient;
  readonly #timers = new Set<NodeJS.Timeout>();
  #closed = false;

  constructor(client: ZkClient) {
    this.#client = client;
  }

  /** How many withdrawals are still to be confirmed. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Run `attempt` until it succeeds, the session ends or the reaper closes. */
  withdraw(attempt: () => Promise<void>, delay = 20): void {
    if (this.#closed || this.#client.expired || this.#client.closed) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#client
        .whenConnected()
        .then(attempt)
        .catch((error: unknown) => {
          if (isConnectionLoss(error)) this.withdraw(attempt, Math.min(delay * 2, 1_000));
          // anything else: the session or client is gone (its nodes with it), or the claim is
        });
    }, delay);
    timer.unref();
    this.#timers.add(timer);
  }

  /** Stop retrying (closing the session removes what is left). */
  close(): void {
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }
}
