/**
 * Claims we failed to withdraw (the server did not confirm a release, or an
 * acquire failed after it may have committed) keep being withdrawn in the
 * background: while the session is kept alive such a claim would block the
 * name for ever.
 *
 * A withdrawal is the `release` function, conditional on (session, claim
 * number), which is never reused: a late one can never remove anyone else's
 * claim, and one whose claim is gone (released, reaped, revoked) just returns
 * false. Attempts back off from 100 ms to 2 s and stop when confirmed or when
 * the driver closes (revoking the session removes whatever is left). Timers
 * never keep the process alive.
 *
 * @internal
 * @module
 */
import type { Pool } from 'pg';
import { runStatement, type Statement } from './statements.js';

/**
 * One claim to withdraw.
 *
 * @example
 * ```ts
 * const claim: OrphanClaim = { sessionId: '42', seq: '7', namespace: 'deadbolt', name: 'jobs' };
 * ```
 */
export interface OrphanClaim {
  readonly sessionId: string;
  readonly seq: string;
  readonly namespace: string;
  readonly name: string;
}

/**
 * Background withdrawer of orphaned claims.
 *
 * @example
 * ```ts
 * reaper.withdraw({ sessionId: '42', seq: '7', namespace: 'deadbolt', name: 'jobs' });
 * ```
 */
export class Reaper {
  readonly #pool: Pool;
  readonly #release: Statement;
  readonly #timeout: number;
  readonly #pending = new Map<string, NodeJS.Timeout>();
  #closed = false;

  constructor(pool: Pool, release: Statement, timeoutMs: number) {
    this.#pool = pool;
    this.#release = release;
    this.#timeout = timeoutMs;
  }

  /** How many claims are still waiting to be withdrawn. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Withdraw `claim` soon, retrying until the server confirms. */
  withdraw(claim: OrphanClaim, delay = 100): void {
    const id = `${claim.sessionId}/${claim.seq}`;
    if (this.#closed || this.#pending.has(id)) return;
    const timer = setTimeout(() => {
      this.#pending.delete(id);
      this.#attempt(claim).then(
        () => {},
        () => this.withdraw(claim, Math.min(delay * 2, 2_000)),
      );
    }, delay);
    timer.unref();
    this.#pending.set(id, timer);
  }

  /** Stop retrying (revoking the session removes what is left). */
  close(): void {
    this.#closed = true;
    for (const timer of this.#pending.values()) clearTimeout(timer);
    this.#pending.clear();
  }

  async #attempt(claim: OrphanClaim): Promise<void> {
    if (this.#closed) return;
    await runStatement(this.#pool, this.#release, [claim.sessionId, claim.seq, claim.namespace, claim.name, null], this.#timeout, 'withdrawing a claim');
  }
}
