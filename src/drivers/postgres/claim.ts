/**
 * A claim on PostgreSQL as the recipe core sees it. The server keeps the
 * queue and decides every grant (sql.ts: `acquire`, and whoever frees a name
 * grants its next waiters in the same transaction), so the core sees a claim
 * in one of two states: granted (nothing ahead; the token filled in by the
 * granting transaction), or waiting behind one obstacle standing for the
 * claims the server found ahead of ours, placed just ahead of our claim. The
 * core's blocker rule then agrees with the server by construction, and the
 * core watches the obstacle: on PostgreSQL, that is waiting for our grant's
 * NOTIFY or for the earliest lease ahead to run out.
 *
 * @internal
 * @module
 */
import type { ClaimMode, EngineClaim } from '../../core/engine.js';
import type { PredecessorReport } from '../../distributed/driver.js';

/** Our claim's place for the core: only ever compared with an obstacle's, just ahead. */
const OWN_ORDER = 1n;

/**
 * One claim: ours (`wakeInMs` absent), or the obstacle a `waiting` answer stands for.
 *
 * @example
 * ```ts
 * const own = ownClaim('3', 'exclusive', 17n);
 * const obstacle = obstacleOf(own, 840); // the earliest lease ahead runs out in 840 ms
 * ```
 */
export interface PgClaim extends EngineClaim {
  /** Our claim number in its session (`claims.seq`). */
  readonly seq: string;
  /** On an obstacle only: ms until the earliest lease ahead runs out, on the server's clock. */
  readonly wakeInMs?: number;
}

/**
 * Our claim numbered `seq`, with the token its grant gave it (`0n`: not granted
 * yet) and how the previous holder let go, as the granting transaction recorded it.
 *
 * @example
 * ```ts
 * ownClaim('3', 'shared', 0n).token; // 0n, waiting
 * ```
 */
export function ownClaim(seq: string, mode: ClaimMode, token: bigint, predecessor?: PredecessorReport): PgClaim {
  return predecessor === undefined ? { order: OWN_ORDER, token, mode, seq } : { order: OWN_ORDER, token, mode, seq, predecessor };
}

/**
 * What keeps `own` waiting, as the server said: exclusive, so that it blocks a claim of either mode.
 *
 * @example
 * ```ts
 * blocker([obstacleOf(own, 120)], own); // the obstacle
 * ```
 */
export function obstacleOf(own: PgClaim, wakeInMs: number | null): PgClaim {
  // no lease ahead to wait for (the server could not say): look again at once
  return { order: OWN_ORDER - 1n, token: 0n, mode: 'exclusive', seq: own.seq, wakeInMs: wakeInMs ?? 0 };
}
