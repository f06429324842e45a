/**
 * Who holds what, and breaking it: `list()`, `holders()` and `break()` on
 * PostgreSQL. A listing is one query (claims joined with their sessions); a
 * holder whose lease ran out is not listed even before a reaper deleted it.
 * `since` and `expiresAt` are on the server's clock. Waiters are not listed
 * there, but by `surveyLocks`, with the holders and the kept break records.
 *
 * Breaking is one call of the `break` function (sql.ts): it deletes the
 * holders' claims, NOTIFYs their sessions (a displaced holder learns it at
 * once, without losing its session or its other locks), stores who/when/why
 * with the displaced holders in the name's `tokens` row for the next holder's
 * predecessor report, and grants the next waiters, all in one transaction.
 * A conditional break (`expect`) runs in an explicit transaction on one pooled
 * connection: take the name's row lock (which every grant and release of the
 * name takes too), read its holders, and call `break` only if they are exactly
 * the expected tokens; else roll back and refuse. Nobody can be granted the
 * name between that read and the break.
 *
 * @internal
 * @module
 */
import type { PoolClient, QueryConfig } from 'pg';
import { assertExpectedHolders } from '../../distributed/break-options.js';
import type { BreakRecord, LockSurvey, WaiterInfo } from '../../distributed/driver.js';
import { mergeSurvey } from '../../distributed/survey.js';
import type { LockInfo } from '../../contracts/fenced-guard.js';
import type { PgContext } from './context.js';
import { decodeBreakRecord, ownerFrom } from './grant.js';
import { withTimeout } from './connection.js';
import { mapError } from './map-error.js';
import { runStatement, type Statement } from './statements.js';

interface HolderRow {
  name?: string;
  mode: string;
  token: string;
  owner: unknown;
  since_ms: number;
  expires_ms: number;
  ttl_ms?: number;
}

/**
 * The holders of every name starting with `prefix`, by name then token.
 *
 * @example
 * ```ts
 * for (const info of await listHolders(ctx, 'billing/')) console.log(info.name, info.owner.pid);
 * ```
 */
export async function listHolders(ctx: PgContext, prefix: string): Promise<LockInfo[]> {
  const res = await runStatement(ctx.pool, ctx.statements.list, [ctx.namespace, prefix], ctx.config.requestTimeout, 'listing locks');
  return (res.rows as HolderRow[]).map((row) => toInfo(row.name!, row));
}

/**
 * The current holders of `name`.
 *
 * @example
 * ```ts
 * const [holder] = await nameHolders(ctx, 'jobs');
 * ```
 */
export async function nameHolders(ctx: PgContext, name: string): Promise<LockInfo[]> {
  const res = await runStatement(ctx.pool, ctx.statements.holders, [ctx.namespace, name], ctx.config.requestTimeout, `listing "${name}"`);
  return (res.rows as HolderRow[]).map((row) => toInfo(name, row));
}

interface QueueRow {
  kind: 'w' | 'b';
  name: string;
  mode: string | null;
  owner: unknown;
  since_ms: number | null;
  broken: unknown;
}

/**
 * The holders, waiters (queue order) and kept break records of every name
 * starting with `prefix`: two queries, run side by side.
 *
 * @example
 * ```ts
 * for (const s of await surveyLocks(ctx, '')) console.log(s.name, s.waiters.length, s.lastBreak?.by);
 * ```
 */
export async function surveyLocks(ctx: PgContext, prefix: string): Promise<LockSurvey[]> {
  const [holders, res] = await Promise.all([
    listHolders(ctx, prefix),
    runStatement(ctx.pool, ctx.statements.queues, [ctx.namespace, prefix], ctx.config.requestTimeout, 'reading lock queues'),
  ]);
  const found: Array<{ name: string; waiters: WaiterInfo[]; lastBreak?: BreakRecord }> = [];
  for (const row of res.rows as QueueRow[]) {
    if (row.kind === 'w') {
      found.push({ name: row.name, waiters: [{ mode: row.mode === 'shared' ? 'shared' : 'exclusive', owner: ownerFrom(row.owner), since: new Date(Number(row.since_ms)) }] });
    } else {
      const record = decodeBreakRecord(row.broken);
      if (record !== undefined) found.push({ name: row.name, waiters: [], lastBreak: record });
    }
  }
  return mergeSurvey(holders, found);
}

/**
 * Displace the holders of `name`, store `record`, return who was displaced
 * (empty when nobody held it: then nothing is written).
 *
 * @example
 * ```ts
 * const displaced = await breakLock(ctx, 'jobs', { reason: 'stuck', by: 'ops@host', at: new Date() });
 * ```
 */
export async function breakLock(ctx: PgContext, name: string, record: BreakRecord, expect?: readonly bigint[]): Promise<LockInfo[]> {
  const values = [ctx.namespace, name, record.reason, record.by, record.at.getTime()];
  if (expect === undefined) {
    const res = await runStatement(ctx.pool, ctx.statements.breakLock, values, ctx.config.requestTimeout, `breaking "${name}"`);
    return (res.rows as HolderRow[]).map((row) => toInfo(name, row));
  }
  const doing = `breaking "${name}"`;
  const client = await withTimeout(ctx.pool.connect(), ctx.config.requestTimeout, doing).catch((error: unknown) => {
    throw mapError(error, doing);
  });
  let broken: unknown;
  try {
    await query(client, 'BEGIN', [], ctx, doing);
    await query(client, ctx.statements.lockName, [ctx.namespace, name], ctx, doing);
    const found = (await query(client, ctx.statements.holders, [ctx.namespace, name], ctx, doing)).map((row) => BigInt(row.token));
    assertExpectedHolders(name, expect, found);
    const rows = await query(client, ctx.statements.breakLock, values, ctx, doing);
    await query(client, 'COMMIT', [], ctx, doing);
    return rows.map((row) => toInfo(name, row));
  } catch (error) {
    broken = error;
    // A failed ROLLBACK leaves the connection in an unknown state: it is then destroyed, not reused.
    await client.query('ROLLBACK').then(() => (broken = undefined), () => undefined);
    throw error;
  } finally {
    client.release(broken !== undefined);
  }
}

async function query(client: PoolClient, statement: Statement | string, values: unknown[], ctx: PgContext, doing: string): Promise<HolderRow[]> {
  const config = typeof statement === 'string' ? { text: statement } : { name: statement.name, text: statement.text };
  try {
    const res = await client.query<HolderRow>({ ...config, values, query_timeout: ctx.config.requestTimeout } as unknown as QueryConfig);
    return res.rows;
  } catch (error) {
    throw mapError(error, doing);
  }
}

function toInfo(name: string, row: HolderRow): LockInfo {
  return {
    name,
    mode: row.mode === 'shared' ? 'shared' : 'exclusive',
    token: BigInt(row.token),
    owner: ownerFrom(row.owner),
    since: new Date(row.since_ms),
    expiresAt: new Date(row.expires_ms),
    ...(row.ttl_ms != null && { ttlMs: Number(row.ttl_ms) }),
    backend: 'postgres',
  };
}
