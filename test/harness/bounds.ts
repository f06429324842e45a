/**
 * The time bounds tests wait with, in one place, sized for a loaded machine
 * (CI on two shared cores, `stress-ng --cpu 2` beside the suite).
 *
 * None of them is what a test proves: each only ends a wait that would
 * otherwise hang, or keeps a lease alive while a test is about something else.
 * A bound a starved process can reach turns a slow run into a false failure, so
 * each is far from what it guards against: minutes for a hang, tens of seconds
 * for an event that normally takes milliseconds, a TTL a process frozen for
 * seconds still renews. Tests about a bound itself (expiry, connectTimeout,
 * acquire timeouts) make the bound's cause deterministic instead (SIGSTOP, a
 * server that never answers, a lock that is held) and keep their own values.
 *
 * @example
 * ```ts
 * import { CONNECT_TIMEOUT_MS, HANG_GUARD_MS, STEADY_TTL_MS } from '../harness/bounds.js';
 *
 * test('a holder keeps its lock', { timeout: HANG_GUARD_MS }, async () => {
 *   const c = await connect(url, { ttl: STEADY_TTL_MS, connectTimeout: CONNECT_TIMEOUT_MS });
 *   // ...
 * });
 * ```
 *
 * @module
 */

/** How many times slower than native this machine runs the suites (qemu-user: scripts/test-arm64.sh). */
export const SLOWDOWN = Math.max(1, Number(process.env.DEADBOLT_TEST_SLOWDOWN) || 1);

/**
 * A per-test or per-file timeout (`{ timeout }` of `test`/`describe`): only there to end a hung
 * run, so minutes; a passing test on a quiet machine takes a fraction of a second to a minute.
 */
export const HANG_GUARD_MS = 600_000 * SLOWDOWN;

/**
 * A wait for an event that normally comes within milliseconds (a grant after a release, an abort,
 * a child's line of output, a port opening): reached only if the event never comes.
 */
export const EVENT_BOUND_MS = 60_000 * SLOWDOWN;

/**
 * `connectTimeout` for a connection to a live server started by the harness (the library's default
 * is 5 s, which a starved process can miss while TLS, auth and the first round trips run).
 */
export const CONNECT_TIMEOUT_MS = 60_000 * SLOWDOWN;

/**
 * A session TTL for a test that is not about expiry: keepalives run at a fraction of the TTL, so a
 * process starved for up to several seconds still renews in time. ZooKeeper's harness allows
 * sessions up to 20 ticks (10 s), so this is also the largest TTL every engine accepts as asked.
 */
export const STEADY_TTL_MS = 10_000;

/**
 * Connect options for a test about something other than sessions or connecting: a steady TTL and
 * a connectTimeout a starved process cannot miss.
 *
 * @example
 * ```ts
 * const c = await connect(redis.url, { ...STEADY_CONNECT, namespace: 'jobs' });
 * ```
 */
export const STEADY_CONNECT = Object.freeze({ ttl: STEADY_TTL_MS, connectTimeout: CONNECT_TIMEOUT_MS });
