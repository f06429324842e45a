/**
 * The statements the driver sends: each a call of one function of sql.ts (one
 * round trip, one transaction), prepared once per connection under a fixed
 * name so the server parses and plans it once.
 *
 * Bigints travel as text both ways (node-postgres would otherwise round
 * tokens above 2^53), times as epoch milliseconds (float8).
 *
 * @internal
 * @module
 */
import type { Pool, QueryResult } from 'pg';
import { isTransient, mapError } from './map-error.js';

/**
 * One named statement.
 *
 * @example
 * ```ts
 * const statement: Statement = { name: 'deadbolt_release', text: 'SELECT "deadbolt".release($1, $2, $3, $4, $5)' };
 * ```
 */
export interface Statement {
  readonly name: string;
  readonly text: string;
}

/**
 * Every statement, for one schema.
 *
 * @example
 * ```ts
 * const statements = makeStatements('deadbolt');
 * await runStatement(pool, statements.release, [sessionId, seq, ns, name], timeout, 'releasing "jobs"');
 * ```
 */
export interface Statements {
  readonly openSession: Statement;
  readonly renew: Statement;
  readonly revoke: Statement;
  readonly acquire: Statement;
  /** `acquire` with a recipe's data ($8); a plain lock sends `acquire`, exactly as before recipes. */
  readonly acquireData: Statement;
  /** Replace the data of our held claim (recipes). */
  readonly setData: Statement;
  /** Arm a watch of a name's claims (recipes; its channel LISTENed first). */
  readonly watchName: Statement;
  readonly poll: Statement;
  /** Block in the lock manager until our claim is granted (a wait connection). */
  readonly waitGrant: Statement;
  readonly release: Statement;
  /** Give up a claim's advisory key on the session connection (a claim lost while its key was held). */
  readonly unlockClaim: Statement;
  readonly breakLock: Statement;
  /** Take the name's row lock (the one every queue change takes), for a conditional break's compare. */
  readonly lockName: Statement;
  readonly breakRecord: Statement;
  readonly holders: Statement;
  readonly list: Statement;
  /** Waiters (queue order) and kept break records of the names starting with $2. */
  readonly queues: Statement;
}

const GRANT_COLUMNS = 'status, token::text AS token, since_ms, pred_token::text AS pred_token, pred_how, wake_in_ms';
const HOLDER_COLUMNS =
  "c.name, c.mode, c.token::text AS token, s.owner, date_part('epoch', c.granted_at) * 1000 AS since_ms, " +
  "date_part('epoch', s.expires_at) * 1000 AS expires_ms, s.ttl_ms, c.data";

/**
 * The statements of schema `schema` (named per schema: one pool serves one schema).
 *
 * @example
 * ```ts
 * const statements = makeStatements('deadbolt');
 * statements.acquire.name; // 'deadbolt_acquire'
 * ```
 */
export function makeStatements(schema: string): Statements {
  const s = `"${schema}"`;
  const holders = (where: string): string =>
    `SELECT ${HOLDER_COLUMNS} FROM ${s}.claims c JOIN ${s}.sessions s ON s.id = c.session_id ` +
    `WHERE c.namespace = $1 AND ${where} AND c.token IS NOT NULL AND s.expires_at > now() ORDER BY c.name, c.token`;
  return {
    openSession: { name: `${schema}_open`, text: `SELECT ${s}.open_session($1::jsonb, $2)::text AS id` },
    renew: { name: `${schema}_renew`, text: `SELECT ${s}.renew($1)::text[] AS held` },
    revoke: { name: `${schema}_revoke`, text: `SELECT ${s}.revoke($1)` },
    acquire: { name: `${schema}_acquire`, text: `SELECT ${GRANT_COLUMNS} FROM ${s}.acquire($1, $2, $3, $4, $5, $6, $7)` },
    acquireData: { name: `${schema}_acquire_data`, text: `SELECT ${GRANT_COLUMNS} FROM ${s}.acquire($1, $2, $3, $4, $5, $6, $7, $8)` },
    setData: { name: `${schema}_set_data`, text: `SELECT ${s}.set_data($1, $2, $3, $4, $5, $6) AS updated` },
    watchName: { name: `${schema}_watch_name`, text: `SELECT ${s}.watch_name($1, $2)` },
    poll: { name: `${schema}_poll`, text: `SELECT ${GRANT_COLUMNS} FROM ${s}.poll($1, $2, $3, $4)` },
    waitGrant: { name: `${schema}_wait_grant`, text: `SELECT ${GRANT_COLUMNS} FROM ${s}.wait_grant($1, $2, $3, $4, $5)` },
    release: { name: `${schema}_release`, text: `SELECT ${s}.release($1, $2, $3, $4, $5, $6) AS released` },
    unlockClaim: { name: `${schema}_unlock_claim`, text: `SELECT pg_advisory_unlock(${s}.key_class($1), ${s}.key_object($2))` },
    breakLock: {
      name: `${schema}_break`,
      text: `SELECT mode, token::text AS token, owner, since_ms::float8, expires_ms::float8 FROM ${s}.break($1, $2, $3, $4, $5)`,
    },
    lockName: { name: `${schema}_lock_name`, text: `SELECT ${s}.lock_name($1, $2)` },
    breakRecord: { name: `${schema}_broken`, text: `SELECT broken FROM ${s}.tokens WHERE namespace = $1 AND name = $2` },
    holders: { name: `${schema}_holders`, text: holders('c.name = $2') },
    list: { name: `${schema}_list`, text: holders('starts_with(c.name, $2)') },
    queues: {
      name: `${schema}_queues`,
      text:
        `SELECT 'w' AS kind, c.name, c.mode, s.owner, date_part('epoch', c.claimed_at) * 1000 AS since_ms, NULL::jsonb AS broken, c.id AS ord, c.data ` +
        `FROM ${s}.claims c JOIN ${s}.sessions s ON s.id = c.session_id ` +
        `WHERE c.namespace = $1 AND starts_with(c.name, $2) AND c.token IS NULL AND s.expires_at > now() ` +
        `UNION ALL SELECT 'b', t.name, NULL, NULL, NULL, t.broken, NULL, NULL FROM ${s}.tokens t ` +
        `WHERE t.namespace = $1 AND starts_with(t.name, $2) AND t.broken IS NOT NULL ORDER BY 2, 7`,
    },
  };
}

/**
 * Run `statement` on a pooled connection. A connection whose request failed
 * or timed out is dropped by the pool rather than reused. Errors are mapped.
 *
 * @example
 * ```ts
 * const { rows } = await runStatement(pool, statements.holders, ['deadbolt', 'jobs'], 5_000, 'listing "jobs"');
 * ```
 */
export async function runStatement(pool: Pool, statement: Statement, values: unknown[], timeoutMs: number, doing: string): Promise<QueryResult> {
  try {
    return await pool.query({ name: statement.name, text: statement.text, values, query_timeout: timeoutMs } as never);
  } catch (error) {
    throw mapError(error, doing);
  }
}

/** Attempts of a request that is safe to repeat. */
const IDEMPOTENT_ATTEMPTS = 3;

/**
 * {@link runStatement} for a request that is safe to repeat (release, revoke:
 * both conditional), retried on another pooled connection when it failed for
 * lack of a working one. When a server terminates every connection of a
 * client at once, the pool may hand out a connection whose end it has not
 * noticed yet: the first attempt fails at once and the next one succeeds.
 *
 * @example
 * ```ts
 * await runIdempotent(pool, statements.revoke, [sessionId], 5_000, 'revoking session 7');
 * ```
 */
export async function runIdempotent(pool: Pool, statement: Statement, values: unknown[], timeoutMs: number, doing: string): Promise<QueryResult> {
  const deadline = performance.now() + timeoutMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await runStatement(pool, statement, values, Math.max(1, deadline - performance.now()), doing);
    } catch (error) {
      if (!isTransient(error) || attempt >= IDEMPOTENT_ATTEMPTS || performance.now() + 10 * attempt >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10 * attempt).unref());
    }
  }
}
