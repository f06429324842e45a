/**
 * One claim as an engine keeps it: its place in the name's queue, its fencing
 * token and its mode. Apart from the contract (engine.ts) so that what builds
 * on claims (scan.ts, blocker.ts) needs nothing else of it.
 *
 * @internal
 * @module
 */
import type { PredecessorReport } from '../distributed/driver.js';

/** Lock modes, in Web Locks' words. */
export type ClaimMode = 'exclusive' | 'shared';

/**
 * One claim as the engine keeps it. Engines extend it with what they need to
 * address the claim again (a key, a node path, a row id).
 *
 * @example
 * ```ts
 * interface EtcdClaim extends EngineClaim { readonly key: Buffer; readonly lease: bigint }
 * ```
 */
export interface EngineClaim {
  /** The engine-assigned place in the name's queue: smaller is older. */
  readonly order: bigint;
  /**
   * The fencing token of this claim (often equal to `order`). An engine that
   * assigns tokens when it grants (Redis: `INCR` in the granting script) says
   * `0n` until then, and hands the granted claim back in `ClaimsRead.claim`.
   */
  readonly token: bigint;
  readonly mode: ClaimMode;
  /**
   * How the previous holder let go, when the engine learned it while granting
   * this claim (Redis's granting script reads the name's tombstone). The held
   * lock reports it when the core has no report of its own: a claim granted
   * without waiting, or by `claimIfFree`.
   */
  readonly predecessor?: PredecessorReport;
}
