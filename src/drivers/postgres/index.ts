/**
 * The `postgres://` driver, on node-postgres (`pg`, an optional peer
 * dependency, loaded only when this driver is used).
 *
 * URL: `postgres://user:password@host:port/database[?schema=deadbolt&sslmode=…]`
 * (`postgresql://` too). `schema` (default `deadbolt`) is where deadbolt keeps
 * its tables and functions, created on first use; every other parameter is
 * node-postgres's. `driverOptions`: `schema`, `poolSize` (query connections per
 * coordinator, default 4), `requestTimeout` (bound on each request, default
 * the connect timeout); anything else (`ssl`, `password`, …) goes to `pg.Client`.
 *
 * Needs PostgreSQL 12 or later and a direct connection (or session pooling):
 * see docs/drivers/postgres.md for the SQL, the timeouts and what breaks behind
 * a transaction-pooling PgBouncer. See driver.ts for the guarantees.
 *
 * @example
 * ```ts
 * import { connect } from 'deadbolt';
 * const locks = await connect('postgres://app@db.internal:5432/app', { ttl: 10_000, namespace: 'billing' });
 * await locks.run('invoices', async (guard) => {
 *   await db.query('UPDATE invoices SET …, fence = $1 WHERE fence <= $1', [guard.token]);
 * });
 * ```
 *
 * @module
 */
import type { DriverFactory } from '../../distributed/driver.js';
import { readConfig } from './config.js';
import { createPool, loadPg, openSessionConnection } from './connection.js';
import { PostgresDriver } from './driver.js';
import { ensureSchema } from './schema.js';
import { SessionConnection } from './session-connection.js';

export { MIN_TTL_MS, PostgresDriver, RECOVERY_BOUND_MS, postgresCapabilities } from './driver.js';
export { MIN_SERVER_VERSION_NUM, type ServerInfo } from './connection.js';
export { DEFAULT_POOL_SIZE, DEFAULT_SCHEMA } from './config.js';
export { SCHEMA_VERSION, schemaSql } from './sql.js';

/**
 * Connect to PostgreSQL: resolves once the session connection is open, the
 * server's version checked and deadbolt's schema in place, within
 * `connectTimeout`. Rejects with BackendError (wrong credentials; no right to
 * create the schema, naming the SQL to run), UnsupportedError (server older
 * than 12), BackendUnavailableError (cannot reach it), ConfigurationError
 * (`pg` not installed, bad `schema`).
 *
 * @example
 * ```ts
 * const driver = await createDriver(new URL('postgres://app@127.0.0.1:5432/app'), { namespace: 'deadbolt', connectTimeout: 5_000, ttl: 10_000, endpoints: [], signal });
 * ```
 */
export const createDriver: DriverFactory = async (url, options) => {
  const config = readConfig(url, options);
  const pg = await loadPg();
  const { client, server } = await openSessionConnection(pg, config, options.signal);
  try {
    await ensureSchema(client, config, server);
    options.signal.throwIfAborted();
  } catch (error) {
    await client.end().catch(() => {});
    throw error;
  }
  const pools = { queries: createPool(pg, config, server), waits: createPool(pg, config, server, 'waits') };
  return new PostgresDriver(pools, new SessionConnection(client), config, server, options.namespace);
};

export default createDriver;
