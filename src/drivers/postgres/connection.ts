/**
 * Connections to PostgreSQL, made so that nothing waits for ever: node-postgres
 * (`pg`, an optional peer dependency) is loaded only when a `postgres://` URL is
 * used, and every connection carries bounds on both ends.
 *
 * Client side: `connectionTimeoutMillis` (the connect timeout), TCP keepalive,
 * a read timeout on every query (`requestTimeout`, raced by hand on the session
 * connection, `query_timeout` on the pool). Server side, per connection:
 * `statement_timeout` and `lock_timeout` (`requestTimeout`),
 * `idle_in_transaction_session_timeout` (we never leave one open, but a client
 * that vanishes mid-transaction must not hold row locks), `tcp_user_timeout`
 * (the TTL: data the server sent and a silent client never acknowledged drops
 * the connection), TCP keepalives every TTL/3, `idle_session_timeout` (2 × TTL,
 * session connection only, PostgreSQL 14+: a paused holder's backend is freed),
 * and `synchronous_commit = on` when the server default is `off` (a granted
 * token must survive a server crash).
 *
 * The first connection sends none of these at startup: on a server too old to
 * know one of them the startup would fail with a confusing message before the
 * version check (`server_version_num`) could say what is wrong.
 *
 * @internal
 * @module
 */
import type { Client, ClientConfig, Pool, PoolConfig } from 'pg';
import { refusalOf, refusedError } from '../../distributed/reachability.js';
import { ConfigurationError, UnsupportedError } from '../../errors.js';
import type { PostgresConfig } from './config.js';
import { mapError } from './map-error.js';

type PgModule = typeof import('pg');

/**
 * The oldest server supported: 12 (the first with `tcp_user_timeout`).
 *
 * @example
 * ```ts
 * if (server.versionNum < MIN_SERVER_VERSION_NUM) throw new UnsupportedError('too old');
 * ```
 */
export const MIN_SERVER_VERSION_NUM = 120_000;

/** The first with `idle_session_timeout`. */
const IDLE_SESSION_TIMEOUT_VERSION_NUM = 140_000;

/**
 * What the first connection learned about the server.
 *
 * @example
 * ```ts
 * const { client, server } = await openSessionConnection(pg, config, signal);
 * server.versionNum; // 150004
 * ```
 */
export interface ServerInfo {
  /** `server_version_num`, e.g. 150004. */
  readonly versionNum: number;
  /** `server_version`, e.g. "15.4 (Debian 15.4-1)". */
  readonly version: string;
  /** `fsync`: with it off, nothing (tokens included) survives a server crash. */
  readonly fsync: string;
  /** The server's default `synchronous_commit`. */
  readonly synchronousCommit: string;
  readonly encoding: string;
  /** `current_user`, for messages that name the SQL to run. */
  readonly user: string;
}

/**
 * Load node-postgres, or say how to install it.
 *
 * @example
 * ```ts
 * const pg = await loadPg();
 * ```
 */
export async function loadPg(): Promise<PgModule> {
  try {
    const mod = (await import('pg')) as PgModule & { default?: PgModule };
    return typeof mod.Client === 'function' ? mod : mod.default!;
  } catch (error) {
    throw new ConfigurationError(
      'the postgres:// driver needs the "pg" package, an optional peer dependency of deadbolt: run `npm install pg`',
      { cause: error },
    );
  }
}

/**
 * Open the session connection (the one that LISTENs and renews leases), check
 * the server version, and apply the server-side bounds to it.
 * Rejects with BackendError (credentials), BackendUnavailableError (cannot
 * reach it), UnsupportedError (too old).
 *
 * @example
 * ```ts
 * const { client, server } = await openSessionConnection(await loadPg(), config, signal);
 * ```
 */
export async function openSessionConnection(pg: PgModule, config: PostgresConfig, signal: AbortSignal): Promise<{ client: Client; server: ServerInfo }> {
  const client = new pg.Client(baseConfig(config));
  // Until someone listens for it, a connection error must not crash the process.
  const onEarlyError = (): void => {};
  client.on('error', onEarlyError);
  try {
    await client.connect();
    signal.throwIfAborted();
    const server = await readServerInfo(client, config);
    checkVersion(server, config);
    await client.query(sessionSettings(config, server).map((s) => `SET ${s}`).join('; '));
    signal.throwIfAborted();
    return { client, server };
  } catch (error) {
    await client.end().catch(() => {});
    // node-postgres does not retry: a refusal arrives at once, and is said like every driver's.
    const refusal = refusalOf(endpointOf(error, config), error);
    throw refusal === undefined ? mapError(error, `connecting to ${config.display}`) : refusedError('postgres', config.display, [refusal]);
  } finally {
    client.off('error', onEarlyError);
  }
}

/** `host:port` (or the socket path) a connection error is about, for messages. */
function endpointOf(error: unknown, config: PostgresConfig): string {
  const { address, port } = (error ?? {}) as { address?: unknown; port?: unknown };
  if (typeof address === 'string') return typeof port === 'number' ? `${address.includes(':') ? `[${address}]` : address}:${port}` : address;
  const url = new URL(config.connectionString);
  return `${url.hostname}:${url.port || 5432}`;
}

/**
 * A pool: of query connections (poll, list, break, revoke), each request
 * bounded; or of wait connections, each blocked in the lock manager for one
 * waiting claim (wait_grant), unbounded. Its connections are made lazily,
 * carry their bounds at startup, and do not keep the process alive while idle.
 *
 * @example
 * ```ts
 * const pool = createPool(pg, config, server);
 * await pool.query('SELECT 1');
 * ```
 */
export function createPool(pg: PgModule, config: PostgresConfig, server: ServerInfo, purpose: 'queries' | 'waits' = 'queries'): Pool {
  // A wait blocks for as long as the lock is held: no statement bound (wait_grant sets its own lock_timeout).
  const bound = purpose === 'queries' ? config.requestTimeout : 0;
  const poolConfig: PoolConfig = {
    ...baseConfig(config),
    max: config.poolSize,
    idleTimeoutMillis: 10_000,
    allowExitOnIdle: true,
    statement_timeout: bound,
    lock_timeout: bound,
    idle_in_transaction_session_timeout: config.requestTimeout,
    ...(purpose === 'queries' ? { query_timeout: config.requestTimeout } : {}),
    options: startupOptions(config, server),
  };
  const pool = new pg.Pool(poolConfig);
  // An idle connection that fails (server restart, pg_terminate_backend) is dropped by the
  // pool and replaced on next use; the error itself must not crash the process.
  pool.on('error', () => {});
  return pool;
}

/** What every connection shares: the URL, bounds on connecting, keepalive, and the user's own settings. */
function baseConfig(config: PostgresConfig): ClientConfig {
  const { options: urlOptions, rest } = splitOptions(config.connectionString);
  return {
    fallback_application_name: config.applicationName,
    ...config.clientConfig,
    connectionString: rest,
    connectionTimeoutMillis: config.connectTimeout,
    keepAlive: true,
    keepAliveInitialDelayMillis: Math.max(1_000, Math.round(config.ttl / 3)),
    ...(urlOptions !== undefined && { options: urlOptions }),
  };
}

/**
 * node-postgres lets the URL's `options=` override the `options` we set; take
 * it out of the URL so that ours can be appended to it instead.
 */
function splitOptions(connectionString: string): { options: string | undefined; rest: string } {
  const url = new URL(connectionString);
  const options = url.searchParams.get('options') ?? undefined;
  url.searchParams.delete('options');
  return { options, rest: url.href };
}

/** `-c name=value` for the settings node-postgres cannot send at startup by itself. */
function startupOptions(config: PostgresConfig, server: ServerInfo): string {
  const { options: urlOptions } = splitOptions(config.connectionString);
  const ours = tcpSettings(config, server).map(([name, value]) => `-c ${name}=${value}`);
  return [urlOptions ?? (config.clientConfig.options as string | undefined), ...ours].filter((o) => o !== undefined && o !== '').join(' ');
}

/**
 * TCP bounds (ignored by the server on Unix sockets), durable commits, and
 * generic plans: the driver's functions look everything up by equality on
 * indexed columns, so planning once per connection is right, where the default
 * would plan each of their statements anew on its first five runs (a release
 * that hands over to a waiter took ~0.75 ms instead of ~0.35 ms on a
 * connection's first runs, measured).
 */
function tcpSettings(config: PostgresConfig, server: ServerInfo): Array<[string, string | number]> {
  const keepaliveSeconds = Math.max(1, Math.round(config.ttl / 3_000));
  const settings: Array<[string, string | number]> = [
    ['tcp_user_timeout', Math.max(1_000, config.ttl)],
    ['tcp_keepalives_idle', keepaliveSeconds],
    ['tcp_keepalives_interval', keepaliveSeconds],
    ['tcp_keepalives_count', 3],
    ['plan_cache_mode', 'force_generic_plan'],
  ];
  if (server.synchronousCommit === 'off') settings.push(['synchronous_commit', 'on']);
  return settings;
}

/** Everything the session connection sets once the version is known. */
function sessionSettings(config: PostgresConfig, server: ServerInfo): string[] {
  const settings = [
    `statement_timeout = ${config.requestTimeout}`,
    `lock_timeout = ${config.requestTimeout}`,
    `idle_in_transaction_session_timeout = ${config.requestTimeout}`,
    ...tcpSettings(config, server).map(([name, value]) => `${name} = ${typeof value === 'number' ? value : `'${value}'`}`),
  ];
  if (server.versionNum >= IDLE_SESSION_TIMEOUT_VERSION_NUM) settings.push(`idle_session_timeout = ${2 * config.ttl}`);
  return settings;
}

/** One simple-protocol query: the answer of any server, however old. */
async function readServerInfo(client: Client, config: PostgresConfig): Promise<ServerInfo> {
  const result = await withTimeout(
    client.query(
      "SELECT current_setting('server_version_num') AS version_num, current_setting('server_version') AS version, " +
        "current_setting('fsync') AS fsync, current_setting('synchronous_commit') AS synchronous_commit, " +
        "current_setting('server_encoding') AS encoding, current_user AS user",
    ),
    config.requestTimeout,
    'reading the server version',
  );
  const row = result.rows[0] as Record<string, string>;
  return {
    versionNum: Number(row.version_num),
    version: String(row.version),
    fsync: String(row.fsync),
    synchronousCommit: String(row.synchronous_commit),
    encoding: String(row.encoding),
    user: String(row.user),
  };
}

function checkVersion(server: ServerInfo, config: PostgresConfig): void {
  if (Number.isInteger(server.versionNum) && server.versionNum >= MIN_SERVER_VERSION_NUM) return;
  throw new UnsupportedError(
    `PostgreSQL ${server.version} at ${config.display} (server_version_num ${server.versionNum}) is not supported: ` +
      `deadbolt's postgres driver needs PostgreSQL ${MIN_SERVER_VERSION_NUM / 10_000} or later`,
  );
}

/**
 * `promise`, or a BackendUnavailableError-shaped rejection after `ms` (the
 * promise itself is left to settle on its own).
 *
 * @example
 * ```ts
 * await withTimeout(client.query('SELECT 1'), 1_000, 'pinging');
 * ```
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, doing: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms (timeout) while ${doing}`)), ms);
    timer.unref();
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}
