/**
 * The PostgreSQL driver: the recipe core (src/core/) over PostgreSQL's
 * primitives (engine.ts). Sessions are leases in a table, locks are claim rows
 * granted in FIFO order by the transaction that frees them (sql.ts), waiters
 * are woken by NOTIFY. This file states what the driver guarantees.
 *
 * @internal
 * @module
 */
import type { Pool } from 'pg';
import type { Capabilities } from '../../distributed/driver.js';
import { RecipeDriver } from '../../core/recipe-driver.js';
import type { PgClaim } from './claim.js';
import type { PostgresConfig } from './config.js';
import type { ServerInfo } from './connection.js';
import { PostgresEngine, type PgRead } from './engine.js';
import type { SessionConnection } from './session-connection.js';
import type { PostgresSession } from './session.js';

/**
 * The smallest TTL accepted, in ms: below it, scheduling jitter and commit latency eat the safety margin.
 *
 * @example
 * ```ts
 * await connect('postgres://db/app', { ttl: MIN_TTL_MS });
 * ```
 */
export const MIN_TTL_MS = 500;

/**
 * Beyond the TTL, the most it takes for a dead holder's lock to pass on: a
 * waiter's timer fires 5 ms after the lease's end on the server's clock, then
 * one `poll` round trip reaps and grants it. Measured here: 5–20 ms; stated with
 * room for a busy event loop. (Without a waiter to look, any live session's
 * keepalive reaps within TTL/3, and the next acquirer reaps at once.)
 *
 * @example
 * ```ts
 * const worstCase = ttl + RECOVERY_BOUND_MS; // a dead holder's lock is free by then
 * ```
 */
export const RECOVERY_BOUND_MS = 250;

/**
 * What the PostgreSQL driver guarantees, for a server as seen at connect.
 *
 * @example
 * ```ts
 * postgresCapabilities(server, 'deadbolt').durableTokens; // false when the server runs with fsync=off
 * ```
 */
export function postgresCapabilities(server: ServerInfo, schema: string): Capabilities {
  const durable = server.fsync === 'on';
  const notes = [
    `Fencing tokens are a per-name counter in "${schema}".tokens, incremented by the granting transaction ` +
      '(committed with synchronous_commit on): strictly increasing, without gaps, and kept across server restarts ' +
      'as long as that table is kept.',
    'A session is one PostgreSQL connection plus a lease on the server\'s clock: it ends when the lease runs out ' +
      'without renewal, or when that connection ends (pg_terminate_backend, a server restart), and its locks end with it.',
    'Waiters block in the server\'s lock manager on the claim ahead (an advisory key per claim, one wait connection ' +
      'per waiting claim, up to driverOptions.poolSize per coordinator; beyond that, and for grants by break or ' +
      'reaping, LISTEN/NOTIFY), on a direct connection: a transaction-pooling PgBouncer breaks both (see docs/drivers/postgres.md).',
  ];
  if (!durable) notes.push('The server runs with fsync=off: after a server crash, tokens may repeat (durableTokens: false).');
  if (server.encoding !== 'UTF8') notes.push(`The database encoding is ${server.encoding}: lock names it cannot represent are refused by the server.`);
  return Object.freeze({
    shared: true,
    durableTokens: durable,
    serverLease: true,
    waitNotifications: true,
    breakable: true,
    recipes: true,
    minTtlMs: MIN_TTL_MS,
    recoveryBoundMs: RECOVERY_BOUND_MS,
    notes: Object.freeze(notes) as string[],
  });
}

/**
 * The Driver for `postgres://` URLs: the recipe core over PostgreSQL's primitives (engine.ts).
 *
 * @example
 * ```ts
 * const driver = new PostgresDriver(pool, connection, config, server, 'deadbolt');
 * const session = await driver.openSession(10_000, owner);
 * const lock = await driver.acquire({ session, name: 'jobs', mode: 'exclusive', owner }, signal);
 * ```
 */
export class PostgresDriver extends RecipeDriver<PostgresSession, PgClaim, PgRead> {
  /** What the server said at connect. */
  readonly server: ServerInfo;
  /** The schema holding deadbolt's tables. */
  readonly schema: string;

  constructor(pools: { queries: Pool; waits: Pool }, connection: SessionConnection, config: PostgresConfig, server: ServerInfo, namespace: string) {
    super(new PostgresEngine(pools, connection, config, namespace, postgresCapabilities(server, config.schema)));
    this.server = server;
    this.schema = config.schema;
  }
}
