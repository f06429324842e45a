/**
 * What the redis driver guarantees on the server it connected to. Unlike
 * etcd's, these depend on the server's settings, read at connect: tokens
 * survive a crash only with `appendonly yes` + `appendfsync always`, and only
 * without failover; eviction can delete a lock.
 *
 * @internal
 * @module
 */
import type { Capabilities } from '../../distributed/driver.js';
import type { ServerInfo } from './server-info.js';

/**
 * The smallest TTL accepted, in ms: three keepalives and a 25 ms margin still fit.
 *
 * @example
 * ```ts
 * await connect('redis://127.0.0.1:6379', { ttl: MIN_TTL_MS });
 * ```
 */
export const MIN_TTL_MS = 100;

/**
 * Beyond the TTL, the most it takes for a dead holder's lock to pass on. The
 * lock key expires at its PX deadline on the server's clock; the first waiter
 * was told, by its last look, how long that lease had left, and looks again
 * 2 ms after. What remains is timer lateness and one round trip (measured
 * here: about 8 ms after the PX deadline, on a loaded 2-core machine); the
 * bound leaves room for a busy event loop. If the first waiter is dead too,
 * add its session's TTL.
 *
 * @example
 * ```ts
 * const worst = coordinator.session.ttlMs + RECOVERY_BOUND_MS; // a dead holder's lock is free again by then
 * ```
 */
export const RECOVERY_BOUND_MS = 250;

/** The policies under which Redis never deletes a key to make room. */
const SAFE_POLICY = 'noeviction';

/**
 * The capabilities for a server, with the notes a person should read.
 *
 * @example
 * ```ts
 * const caps = redisCapabilities(info, { sentinel: false });
 * caps.durableTokens; // true only with appendonly yes + appendfsync always
 * ```
 */
export function redisCapabilities(info: ServerInfo, { sentinel }: { sentinel: boolean }): Capabilities {
  const fsyncAlways = info.appendonly === 'yes' && info.appendfsync === 'always';
  return {
    shared: true,
    durableTokens: fsyncAlways && !sentinel,
    serverLease: true,
    waitNotifications: true,
    breakable: true,
    recipes: true,
    minTtlMs: MIN_TTL_MS,
    recoveryBoundMs: RECOVERY_BOUND_MS,
    notes: [
      `Redis ${info.version}${sentinel ? ' through Sentinel' : ''}.`,
      persistenceNote(info, fsyncAlways, sentinel),
      ...(sentinel ? [REPLICATION_NOTE] : []),
      ...evictionNotes(info),
      'Predecessor reports for shared holders are best effort: they describe the holder granted or departed last.',
    ],
  };
}

/**
 * The process warning for a server that may evict lock keys, or `undefined`.
 *
 * @example
 * ```ts
 * const warning = evictionWarning(info, 'redis://10.0.0.1:6379');
 * if (warning) process.emitWarning(warning, { type: 'DeadboltWarning', code: 'DEADBOLT_REDIS_EVICTION' });
 * ```
 */
export function evictionWarning(info: ServerInfo, display: string): string | undefined {
  if (!mayEvict(info)) return undefined;
  return (
    `Redis at ${display} has maxmemory-policy ${info.maxmemoryPolicy} with maxmemory ${info.maxmemory}: ` +
    'under memory pressure it can evict lock keys, and an evicted lock means two holders. ' +
    'Set maxmemory-policy noeviction on the Redis that holds locks.'
  );
}

const REPLICATION_NOTE =
  'Sentinel failover: Redis replicates asynchronously, so a lock acknowledged by the old master can be missing on the ' +
  'promoted replica: two holders are possible after a failover. Fencing tokens protect the resource then: a counter ' +
  'that was replicated keeps increasing, and one that was not starts again at the new master\'s clock (microseconds), ' +
  "above the old tokens unless the servers' clocks disagree by more than the failover took.";

function persistenceNote(info: ServerInfo, fsyncAlways: boolean, sentinel: boolean): string {
  const floor =
    'Tokens are INCR counters that start at the server clock (microseconds since the epoch) when created: if a counter ' +
    'is lost with the data, the new one starts above the old tokens unless the server clock went back.';
  if (info.appendonly === undefined) {
    return `Persistence unknown: CONFIG GET was refused (${info.configError ?? 'no answer'}), so durableTokens is false. ${floor}`;
  }
  const seen = `Persistence seen at connect: appendonly ${info.appendonly}, appendfsync ${info.appendfsync ?? 'unknown'}.`;
  if (fsyncAlways && !sentinel) return `${seen} Token counters are fsynced with every grant: they survive a crash of the server.`;
  if (fsyncAlways) return `${seen} The master fsyncs every grant, but a failover can lose grants not yet replicated, so durableTokens is false. ${floor}`;
  return `${seen} A crash or restart can lose token counters (durableTokens false: that needs appendonly yes + appendfsync always). ${floor}`;
}

function evictionNotes(info: ServerInfo): string[] {
  if (info.maxmemoryPolicy === undefined) {
    return ['Eviction policy unknown (CONFIG GET refused): make sure maxmemory-policy is noeviction, or evicted lock keys mean two holders.'];
  }
  if (info.maxmemoryPolicy === SAFE_POLICY) return [];
  if (mayEvict(info)) {
    return [
      `maxmemory-policy ${info.maxmemoryPolicy} with maxmemory ${info.maxmemory}: Redis may evict lock keys under memory pressure, ` +
        'and an evicted lock means two holders. Use noeviction.',
    ];
  }
  return [`maxmemory-policy ${info.maxmemoryPolicy}: harmless while maxmemory is 0 (no limit), but it would evict lock keys once a limit is set.`];
}

function mayEvict(info: ServerInfo): boolean {
  return info.maxmemoryPolicy !== undefined && info.maxmemoryPolicy !== SAFE_POLICY && (info.maxmemory ?? 0) > 0;
}
