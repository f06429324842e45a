/**
 * The PostgreSQL driver: sessions are leases in a table, locks are claim rows
 * granted in FIFO order by the transaction that frees them (lock.ts, sql.ts),
 * waiters are woken by NOTIFY. This file wires the pieces to the Driver
 * contract and states what the driver guarantees.
 *
 * @internal
 * @module
 */
import type { Pool } from 'pg';
import type { BreakRecord, Capabilities, Driver, DriverLock, DriverSession, LockRequest, LockSurvey } from '../../distributed/driver.js';
import type { LockInfo, LockOwner } from '../../contracts/lock-info.js';
import type { PostgresConfig } from './config.js';
import type { ServerInfo } from './connection.js';
import type { PgContext } from './context.js';
import { breakLock, listHolders, nameHolders, surveyLocks } from './holders.js';
import { acquireLock } from './lock.js';
import { Reaper } from './reaper.js';
import type { SessionConnection } from './session-connection.js';
import { PostgresSession } from './session.js';
import { makeStatements } from './statements.js';

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
    'Waiters are woken by LISTEN/NOTIFY on a direct connection: a transaction-pooling PgBouncer breaks LISTEN ' +
      '(see docs/drivers/postgres.md).',
  ];
  if (!durable) notes.push('The server runs with fsync=off: after a server crash, tokens may repeat (durableTokens: false).');
  if (server.encoding !== 'UTF8') notes.push(`The database encoding is ${server.encoding}: lock names it cannot represent are refused by the server.`);
  return Object.freeze({
    shared: true,
    durableTokens: durable,
    serverLease: true,
    waitNotifications: true,
    breakable: true,
    minTtlMs: MIN_TTL_MS,
    recoveryBoundMs: RECOVERY_BOUND_MS,
    notes: Object.freeze(notes) as string[],
  });
}

/**
 * The Driver for `postgres://` URLs.
 *
 * @example
 * ```ts
 * const driver = new PostgresDriver(pool, connection, config, server, 'deadbolt');
 * const session = await driver.openSession(10_000, owner);
 * const lock = await driver.acquire({ session, name: 'jobs', mode: 'exclusive', owner }, signal);
 * ```
 */
export class PostgresDriver implements Driver {
  readonly backend = 'postgres';
  readonly capabilities: Capabilities;
  /** What the server said at connect. */
  readonly server: ServerInfo;
  readonly #ctx: PgContext;

  constructor(pool: Pool, connection: SessionConnection, config: PostgresConfig, server: ServerInfo, namespace: string) {
    const statements = makeStatements(config.schema);
    this.server = server;
    this.capabilities = postgresCapabilities(server, config.schema);
    this.#ctx = {
      pool,
      connection,
      statements,
      config,
      namespace,
      reaper: new Reaper(pool, statements.release, config.requestTimeout),
    };
  }

  /** The schema holding deadbolt's tables. */
  get schema(): string {
    return this.#ctx.config.schema;
  }

  async openSession(ttlMs: number, owner: LockOwner): Promise<DriverSession> {
    return PostgresSession.open(this.#ctx, ttlMs, owner);
  }

  async acquire(request: LockRequest, signal: AbortSignal): Promise<DriverLock> {
    return (await acquireLock(this.#ctx, request, signal, true))!;
  }

  tryAcquire(request: LockRequest): Promise<DriverLock | undefined> {
    return acquireLock(this.#ctx, request, undefined, false);
  }

  list(prefix: string): Promise<LockInfo[]> {
    return listHolders(this.#ctx, prefix);
  }

  holders(name: string): Promise<LockInfo[]> {
    return nameHolders(this.#ctx, name);
  }

  survey(prefix: string): Promise<LockSurvey[]> {
    return surveyLocks(this.#ctx, prefix);
  }

  break(name: string, record: BreakRecord, expect?: readonly bigint[]): Promise<LockInfo[]> {
    return breakLock(this.#ctx, name, record, expect);
  }

  async close(): Promise<void> {
    this.#ctx.reaper.close();
    const timeout = this.#ctx.config.requestTimeout;
    // Idle connections do not keep the process alive; saying goodbye on them must, or a
    // script ending in `await coordinator.close()` would exit before the sockets close.
    const keepAlive = setInterval(() => {}, 1 << 30);
    try {
      await Promise.all([this.#ctx.connection.close(timeout), this.#ctx.pool.end().catch(() => {})]);
    } finally {
      clearInterval(keepAlive);
    }
  }
}
