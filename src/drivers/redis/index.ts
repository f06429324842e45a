/**
 * The `redis://` driver, on the `ioredis` package (an optional peer dependency,
 * loaded only when this driver is used).
 *
 * URLs: `redis://[[user]:password@]host[:port][/db]`, `rediss://…` (TLS),
 * `redis+sentinel://[[user]:password@]s1:p1,s2:p2[,…]/master[/db]` (the hosts
 * are Sentinels; the password is the data nodes'). `driverOptions` go to
 * `new Redis()` over the driver's defaults: `username`, `password`, `tls`,
 * `sentinelPassword`, `sentinelTLS`, `enableTLSForSentinelMode`,
 * `commandTimeout` (default: the connect timeout), ….
 *
 * At connect the driver reads the server's version, role and settings:
 * Redis before 6.2 and cluster nodes are refused (UnsupportedError), a replica
 * reached directly too (ConfigurationError); `capabilities.durableTokens` is
 * true only with `appendonly yes` + `appendfsync always` and no Sentinel; a
 * `maxmemory-policy` that can evict keys is named in `capabilities.notes` and
 * emitted as a process warning (`DEADBOLT_REDIS_EVICTION`). See protocol.ts
 * for the guarantees.
 *
 * @example
 * ```ts
 * import { connect } from 'deadbolt';
 * const locks = await connect('redis://:s3cret@10.0.0.1:6379/0', { ttl: 10_000, namespace: 'billing' });
 * await locks.run('invoices', async (guard) => { … });
 * ```
 *
 * @module
 */
import type { DriverFactory } from '../../distributed/driver.js';
import { evictionWarning, redisCapabilities } from './capabilities.js';
import { openClient, parseRedisUrl } from './client.js';
import { RedisDriver } from './driver.js';
import { checkServer, readServerInfo } from './server-info.js';

export { MIN_TTL_MS, RECOVERY_BOUND_MS, redisCapabilities } from './capabilities.js';
export { RedisDriver } from './driver.js';
export { MIN_REDIS_VERSION, type ServerInfo } from './server-info.js';

/**
 * Connect to Redis: resolves once both connections (commands, pub/sub) are
 * ready and the server passed its checks, within `connectTimeout`
 * (BackendUnavailableError otherwise; BackendError at once for wrong
 * credentials; ConfigurationError when `ioredis` is not installed).
 *
 * @example
 * ```ts
 * const driver = await createDriver(new URL('redis://127.0.0.1:6379'), { namespace: 'deadbolt', connectTimeout: 5_000, ttl: 10_000, endpoints: [], signal });
 * ```
 */
export const createDriver: DriverFactory = async (url, options) => {
  const config = parseRedisUrl(url, options);
  options.probe?.(config.probeTargets);
  const client = await openClient(config, options.signal);
  try {
    const info = await readServerInfo(client);
    checkServer(info, config);
    const warning = evictionWarning(info, config.display);
    if (warning !== undefined) process.emitWarning(warning, { type: 'DeadboltWarning', code: 'DEADBOLT_REDIS_EVICTION' });
    return new RedisDriver(client, options.namespace, redisCapabilities(info, config));
  } catch (error) {
    await client.close();
    throw error;
  }
};

export default createDriver;
