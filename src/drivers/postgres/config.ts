/**
 * What the PostgreSQL driver is told to do: the URL and `driverOptions` read
 * into one checked configuration.
 *
 * - `postgres://user:password@host:port/database?schema=locks`: `schema` is
 *   ours (where deadbolt's tables live, default `deadbolt`); every other
 *   parameter is node-postgres's (`sslmode`, `application_name`, `host=/run/postgresql`
 *   for a Unix socket, …).
 * - `driverOptions.schema`, `.poolSize` (query connections, and as many wait connections: default 4) and
 *   `.requestTimeout` (bound on each request, default the connect timeout) are
 *   ours; anything else (`ssl`, `password`, …) goes to `pg.Client`. The URL's
 *   `schema` wins over `driverOptions.schema` when both are given.
 *
 * @internal
 * @module
 */
import { redact } from '../../distributed/connect-url.js';
import { ConfigurationError, invalidRange, invalidType } from '../../errors.js';
import { SCHEMA_NAME } from './sql.js';

/**
 * The schema used when none is configured.
 *
 * @example
 * ```ts
 * connect('postgres://app@db/app'); // tables in schema "deadbolt"
 * ```
 */
export const DEFAULT_SCHEMA = 'deadbolt';

/**
 * Query connections per coordinator, and wait connections (one per claim waiting in the lock manager), when `driverOptions.poolSize` is not given.
 *
 * @example
 * ```ts
 * connect(url, { driverOptions: { poolSize: 2 } }); // instead of 4
 * ```
 */
export const DEFAULT_POOL_SIZE = 4;

/**
 * The checked configuration of one driver.
 *
 * @example
 * ```ts
 * const config = readConfig(new URL('postgres://app@db:5432/app?schema=locks'), { connectTimeout: 5_000, ttl: 15_000 });
 * config.schema; // 'locks'
 * ```
 */
export interface PostgresConfig {
  /** The URL for node-postgres, without our own parameters. */
  readonly connectionString: string;
  /** The URL as error messages show it (password hidden). */
  readonly display: string;
  readonly schema: string;
  readonly poolSize: number;
  /** Bound on each request to the server, in ms. */
  readonly requestTimeout: number;
  /** Bound on opening a connection, in ms. */
  readonly connectTimeout: number;
  /** The session TTL asked for, in ms: server-side TCP timeouts are derived from it. */
  readonly ttl: number;
  /**
   * `application_name` of every connection unless the URL or options set one:
   * `deadbolt <owner id>`, so that `pg_stat_activity` says which coordinator a
   * connection belongs to.
   */
  readonly applicationName: string;
  /** Passed to `pg.Client` / `pg.Pool` under our settings. */
  readonly clientConfig: Readonly<Record<string, unknown>>;
}

/**
 * Read the URL and options. Throws ConfigurationError for a bad URL parameter,
 * TypeError/RangeError for a bad `driverOptions` entry.
 *
 * @example
 * ```ts
 * readConfig(url, { connectTimeout: 5_000, ttl: 15_000, driverOptions: { poolSize: 2 } });
 * ```
 */
export function readConfig(
  url: URL,
  options: { connectTimeout: number; ttl: number; driverOptions?: Record<string, unknown> | undefined; identity?: { id?: string } | undefined },
): PostgresConfig {
  const written = new URL(url.href);
  const display = redact(written.href);
  const { schema: optionSchema, poolSize, requestTimeout, ...clientConfig } = options.driverOptions ?? {};
  // node-postgres lets the connection string's fields win over the config's, an empty user included:
  // driverOptions.user / .password go into the URL, where they take effect (and are masked as URL secrets are).
  if (typeof clientConfig.user === 'string') written.username = encodeURIComponent(clientConfig.user);
  if (typeof clientConfig.password === 'string') written.password = encodeURIComponent(clientConfig.password);
  const urlSchema = written.searchParams.get('schema');
  written.searchParams.delete('schema');
  let schema = DEFAULT_SCHEMA;
  if (urlSchema !== null) {
    if (!SCHEMA_NAME.test(urlSchema)) {
      throw new ConfigurationError(
        `backend URL "${display}": schema=${JSON.stringify(urlSchema)} is not a valid schema name ` +
          '(1 to 40 lower-case letters, digits or "_", not starting with a digit)',
      );
    }
    schema = urlSchema;
  } else if (optionSchema !== undefined) {
    if (typeof optionSchema !== 'string') throw invalidType('options.driverOptions.schema', 'a string', optionSchema);
    if (!SCHEMA_NAME.test(optionSchema)) {
      throw invalidRange('options.driverOptions.schema', '1 to 40 lower-case letters, digits or "_", not starting with a digit', optionSchema);
    }
    schema = optionSchema;
  }
  return {
    connectionString: written.href,
    display,
    schema,
    poolSize: checkInteger(poolSize, 'options.driverOptions.poolSize', DEFAULT_POOL_SIZE, 1, 100),
    requestTimeout: checkInteger(requestTimeout, 'options.driverOptions.requestTimeout', options.connectTimeout, 1, 2_147_483_647),
    connectTimeout: options.connectTimeout,
    ttl: options.ttl,
    applicationName: applicationName(options.identity?.id),
    clientConfig,
  };
}

/** `deadbolt <id>` in printable ASCII, within PostgreSQL's 63 bytes. */
function applicationName(id: string | undefined): string {
  const name = id === undefined ? 'deadbolt' : `deadbolt ${id}`;
  return name.replace(/[^\x20-\x7e]/g, '?').slice(0, 63);
}

function checkInteger(value: unknown, what: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value)) throw invalidType(what, 'a number', value);
  if (!Number.isInteger(value) || value < min || value > max) throw invalidRange(what, `an integer from ${min} to ${max}`, value);
  return value;
}
