/**
 * What every part of the PostgreSQL driver shares: the connections, the
 * statements, the configuration and the namespace.
 *
 * @internal
 * @module
 */
import type { Pool } from 'pg';
import type { PostgresConfig } from './config.js';
import type { SessionConnection } from './session-connection.js';
import type { Statements } from './statements.js';

/**
 * The driver's shared state.
 *
 * @example
 * ```ts
 * await runStatement(ctx.pool, ctx.statements.holders, [ctx.namespace, name], ctx.config.requestTimeout, 'listing');
 * ```
 */
export interface PgContext {
  /** Query connections: poll, list, break, revoke. */
  readonly pool: Pool;
  /** Wait connections: one per claim waiting in the lock manager (wait_grant). */
  readonly waits: Pool;
  /** The session connection: open, renew, LISTEN, and acquire and release (it holds each claim's advisory key). */
  readonly connection: SessionConnection;
  readonly statements: Statements;
  readonly config: PostgresConfig;
  /** The coordinator's namespace: a column of every row, so namespaces never meet. */
  readonly namespace: string;
}
