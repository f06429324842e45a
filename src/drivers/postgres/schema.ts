/**
 * deadbolt's schema is created on first use: at connect, the driver reads the
 * schema version from `<schema>.meta`; when the schema is missing or older, it
 * runs `schemaSql(schema)` (sql.ts) in one transaction, serialized between
 * processes that connect at the same moment by an advisory lock (two-int form,
 * so it cannot meet an application's single-bigint keys), under which the
 * version is read again first.
 *
 * A user without the right to create it gets an error that names the SQL an
 * administrator should run.
 *
 * @internal
 * @module
 */
import type { Client } from 'pg';
import { BackendError, ConfigurationError, DeadboltError } from '../../errors.js';
import type { PostgresConfig } from './config.js';
import { withTimeout, type ServerInfo } from './connection.js';
import { isPermissionDenied, mapError } from './map-error.js';
import { FUNCTIONS_REVISION, SCHEMA_VERSION, objectsSql, schemaSql } from './sql.js';

/**
 * Make sure the schema exists at this deadbolt's version, creating or
 * upgrading it if needed. Runs on the session connection before anything else.
 *
 * @example
 * ```ts
 * await ensureSchema(client, config, server);
 * ```
 */
export async function ensureSchema(client: Client, config: PostgresConfig, server: ServerInfo): Promise<void> {
  const { version, functions } = await installed(client, config, server);
  if (version === SCHEMA_VERSION) {
    if (functions >= FUNCTIONS_REVISION) return;
    // Same tables, older functions (an older process keeps working with newer ones): replace them
    // if we may. A schema managed by a DBA, where we may not, keeps the older ones: correct, only
    // slower (docs/drivers/postgres.md says to re-run schemaSql()).
    try {
      await install(client, config, server);
    } catch (error) {
      if (!(error instanceof BackendError && isPermissionDenied(error.cause))) throw error;
    }
    return;
  }
  if (version !== undefined && version > SCHEMA_VERSION) {
    throw new ConfigurationError(
      `schema "${config.schema}" at ${config.display} was created by a newer deadbolt (schema version ${version}; ` +
        `this one knows version ${SCHEMA_VERSION}): upgrade deadbolt in every process, or use another schema (?schema= or driverOptions.schema)`,
    );
  }
  await install(client, config, server);
}

/**
 * The schema version and functions revision in `meta` (`version` undefined when
 * the schema or its tables are missing; `functions` 1 when not recorded: the
 * first revision did not record it).
 */
async function installed(client: Client, config: PostgresConfig, server: ServerInfo): Promise<{ version: number | undefined; functions: number }> {
  const doing = `reading the version of schema "${config.schema}"`;
  try {
    const present = await withTimeout(client.query('SELECT to_regclass($1) IS NOT NULL AS present', [`"${config.schema}".meta`]), config.requestTimeout, doing);
    if (present.rows[0]?.present !== true) return { version: undefined, functions: 0 };
    const res = await withTimeout(client.query(`SELECT key, value FROM "${config.schema}".meta WHERE key IN ('version', 'functions')`), config.requestTimeout, doing);
    const value = (key: string): number => Number((res.rows as Array<{ key: string; value: string }>).find((row) => row.key === key)?.value);
    const version = value('version');
    const functions = value('functions');
    return { version: Number.isInteger(version) ? version : undefined, functions: Number.isInteger(functions) ? functions : 1 };
  } catch (error) {
    if (isPermissionDenied(error)) throw noRights(config, server, error, true);
    throw mapError(error, doing);
  }
}

/** How often an install that PostgreSQL chose as a deadlock's victim is tried again. */
const DEADLOCK_RETRIES = 3;

async function install(client: Client, config: PostgresConfig, server: ServerInfo): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await installOnce(client, config, server);
    } catch (error) {
      // A rolling upgrade replaces functions while other processes use the tables: PostgreSQL
      // may break the lock cycle by aborting us. The transaction was rolled back; try again.
      if (!isDeadlock(error)) throw error;
      if (attempt > DEADLOCK_RETRIES) throw mapError(error, `creating schema "${config.schema}" (deadlocked ${attempt} times)`);
    }
  }
}

/**
 * Under the install lock, re-read the version before changing anything.
 * Processes that connect at the same moment all find the schema missing (or
 * old) and queue on the lock; the first installs it. Had the others installed
 * it again, their DDL would take exclusive locks on tables the first process
 * was already using, in another order than its queries take them: PostgreSQL
 * reported a deadlock and a worker failed to connect (seen in CI).
 *
 * The lock is a session-level advisory lock, not a transaction's: a re-read
 * inside the transaction that waited would not see the schema created
 * meanwhile (the backend's catalog cache still holds the name as missing, and
 * an advisory lock does not refresh it); a statement of its own does.
 */
async function installOnce(client: Client, config: PostgresConfig, server: ServerInfo): Promise<void> {
  const doing = `creating schema "${config.schema}"`;
  const key = `hashtext('deadbolt'), hashtext('${config.schema}')`;
  // An administrator may have created the schema for us: creating it again, even
  // "IF NOT EXISTS", would need the right to create schemas in the database.
  const exists = await schemaExists(client, config);
  try {
    await withTimeout(client.query(`SELECT pg_advisory_lock(${key})`), config.requestTimeout, doing);
  } catch (error) {
    throw mapError(error, doing);
  }
  try {
    if (await isCurrent(client, config, server)) return;
    await withTimeout(client.query(`BEGIN; ${exists ? objectsSql(config.schema) : schemaSql(config.schema)}; COMMIT`), config.requestTimeout, doing);
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    if (isDeadlock(error)) throw error; // as it is: install() tries again
    if (error instanceof DeadboltError) throw error; // already says what failed (the version read, a timeout)
    if (isPermissionDenied(error)) throw noRights(config, server, error, exists);
    throw mapError(error, doing);
  } finally {
    await client.query(`SELECT pg_advisory_unlock(${key})`).catch(() => {});
  }
}

/** Whether the schema is at this deadbolt's version with functions at least as new. */
async function isCurrent(client: Client, config: PostgresConfig, server: ServerInfo): Promise<boolean> {
  const { version, functions } = await installed(client, config, server);
  return version === SCHEMA_VERSION && functions >= FUNCTIONS_REVISION;
}

/** PostgreSQL's deadlock_detected (SQLSTATE 40P01). */
function isDeadlock(error: unknown): boolean {
  return (error as { code?: unknown } | undefined)?.code === '40P01';
}

async function schemaExists(client: Client, config: PostgresConfig): Promise<boolean> {
  try {
    const res = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [config.schema]);
    return res.rowCount === 1;
  } catch {
    return false;
  }
}

/** The error for a user who may not create or use the schema: it names the SQL to run. */
function noRights(config: PostgresConfig, server: Pick<ServerInfo, 'user'>, cause: unknown, exists: boolean): BackendError {
  const user = quoteIdent(server.user);
  const schema = `"${config.schema}"`;
  const fix = exists
    ? `GRANT USAGE, CREATE ON SCHEMA ${schema} TO ${user};  (or run the SQL of schemaSql('${config.schema}') from deadbolt/drivers/postgres ` +
      `as the schema's owner, then GRANT USAGE ON SCHEMA ${schema}, SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${schema} ` +
      `and EXECUTE ON ALL FUNCTIONS IN SCHEMA ${schema} TO ${user})`
    : `CREATE SCHEMA ${schema} AUTHORIZATION ${user};  (deadbolt then creates its tables in it on first use; ` +
      `the full SQL is schemaSql('${config.schema}') in deadbolt/drivers/postgres and docs/drivers/postgres.md)`;
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new BackendError(
    `PostgreSQL user ${user} may not ${exists ? 'create deadbolt\'s tables in' : 'create'} schema ${schema} at ${config.display} (${detail}). ` +
      `Have an administrator run:  ${fix}`,
    { cause },
  );
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
