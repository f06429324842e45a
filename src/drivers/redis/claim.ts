/**
 * A claim on Redis as the recipe core sees it. Redis's scripts keep the queue
 * and decide every grant on the server (protocol.ts), so the core sees a claim
 * in one of two states: granted (nothing ahead; the token filled in by the
 * granting script), or waiting behind one obstacle: the holder or earlier
 * waiter the script found in the way, placed just ahead of our claim. The
 * core's blocker rule then agrees with the script by construction, and the
 * core watches the obstacle: on Redis, that is waiting for our wake message or
 * for the lease in the way to run out.
 *
 * @internal
 * @module
 */
import type { ClaimMode, EngineClaim } from '../../core/engine.js';
import type { PredecessorReport } from '../../distributed/driver.js';
import type { ModeCode } from './tracked-claim.js';

/** Our claim's place for the core: only ever compared with an obstacle's, just ahead. */
const OWN_ORDER = 1n;

/**
 * One claim: ours (`leaseLeftMs` absent), or the obstacle a waiting script
 * reply stands for.
 *
 * @example
 * ```ts
 * const own = ownClaim('3', 'exclusive', 17n);
 * const obstacle = obstacleOf(own, 840); // the lease in the way runs out in 840 ms
 * const alien = obstacleOf(own, -1, true); // a foreign key without expiry
 * ```
 */
export interface RedisClaim extends EngineClaim {
  /** Our claim number in its session (`sid|claim` in the scripts). */
  readonly claim: string;
  /** On an obstacle only: ms until the lease in the way runs out (negative: it has no expiry). */
  readonly leaseLeftMs?: number;
  /** On an obstacle only: the lease in the way is a foreign client's, whose release nobody publishes. */
  readonly foreign?: boolean;
}

/**
 * Our claim numbered `claim`, with the token its grant gave it (`0n`: not
 * granted yet) and the predecessor the granting script reported.
 *
 * @example
 * ```ts
 * ownClaim('3', 'shared', 0n).token; // 0n, waiting
 * ```
 */
export function ownClaim(claim: string, mode: ClaimMode, token: bigint, predecessor?: PredecessorReport): RedisClaim {
  return predecessor === undefined ? { order: OWN_ORDER, token, mode, claim } : { order: OWN_ORDER, token, mode, claim, predecessor };
}

/**
 * What keeps `own` waiting, as the script said: exclusive, so that it blocks a claim of either mode.
 *
 * @example
 * ```ts
 * blocker([obstacleOf(own, 120)], own); // the obstacle
 * ```
 */
export function obstacleOf(own: RedisClaim, leaseLeftMs: number, foreign = false): RedisClaim {
  const obstacle: RedisClaim = { order: OWN_ORDER - 1n, token: 0n, mode: 'exclusive', claim: own.claim, leaseLeftMs };
  return foreign ? { ...obstacle, foreign } : obstacle;
}

/**
 * The scripts' mode letter.
 *
 * @example
 * ```ts
 * modeCode('shared'); // 's'
 * ```
 */
export function modeCode(mode: ClaimMode): ModeCode {
  return mode === 'exclusive' ? 'x' : 's';
}
