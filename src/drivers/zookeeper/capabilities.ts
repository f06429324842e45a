/**
 * What the ZooKeeper driver guarantees, and why.
 *
 * @internal
 * @module
 */
import type { Capabilities } from '../../distributed/driver.js';

/**
 * The smallest TTL deadbolt asks ZooKeeper for. A server grants session
 * timeouts between 2× and 20× its `tickTime` (2 s by default, so 4 s); it
 * raises a smaller request to its minimum, and `session.ttlMs` reports that.
 *
 * @example
 * ```ts
 * await connect('zookeeper://10.0.0.1:2181', { ttl: MIN_TTL_MS }); // the server may raise it
 * ```
 */
export const MIN_TTL_MS = 1_000;

/**
 * Beyond the session timeout, the most it takes for a dead holder's lock to
 * pass on: ZooKeeper expires sessions in buckets of one `tickTime` (2 s by
 * default), then deletes the session's nodes in one transaction, and the
 * waiter's watch fires at once. Measured with tickTime 500: 0.3–0.6 s.
 *
 * @example
 * ```ts
 * const worstCase = coordinator.session.ttlMs + RECOVERY_BOUND_MS;
 * ```
 */
export const RECOVERY_BOUND_MS = 2_500;

/**
 * What the ZooKeeper driver guarantees.
 *
 * @example
 * ```ts
 * ZOOKEEPER_CAPABILITIES.durableTokens; // true: tokens are zxids from the transaction log
 * ```
 */
export const ZOOKEEPER_CAPABILITIES: Capabilities = Object.freeze({
  shared: true,
  durableTokens: true,
  serverLease: true,
  waitNotifications: true,
  breakable: true,
  recipes: true,
  minTtlMs: MIN_TTL_MS,
  recoveryBoundMs: RECOVERY_BOUND_MS,
  notes: Object.freeze([
    "Fencing tokens are the claim nodes' czxid: strictly increasing per name, with gaps, shared by the whole ensemble; " +
      'they survive restarts as long as the members keep their data directories.',
    "The TTL is the session timeout the server negotiates: it clamps the request into [2, 20] × its tickTime " +
      '(4–40 s by default); coordinator.session.ttlMs is the value granted.',
    'A dead holder loses its lock up to one server tickTime after the session timeout; after a leader change the new ' +
      'leader restarts every session timeout, so it may then take up to twice the TTL.',
    'One empty persistent node per distinct lock name stays behind (<namespace>/locks/<name>); deleting idle ones is safe.',
    'Predecessor reports: "released" means the predecessor let go while its session lived; "expired" that its session ' +
      'had ended (which is also what a holder that released and closed its session at once looks like).',
  ]) as string[],
});
