/**
 * PostgreSQL's side of the core's listings and breaks (src/core/listing.ts,
 * break-lock.ts). The server grants (a claim row gets its token), so a scan
 * reports the server's verdict (`held`): one query for the holders (claims
 * joined with their sessions; a holder whose lease ran out is not listed even
 * before a reaper deleted it), and for a survey one more, side by side, for the
 * waiters (queue order) and the kept break records. `since` and `expiresAt` are
 * on the server's clock.
 *
 * A break runs in an explicit transaction on one pooled connection: take the
 * name's row lock (which every grant and release of the name takes too), read
 * its holders, and call the `break` function (sql.ts) only if they are exactly
 * the ones the core read; else roll back. `break` deletes the holders' claims,
 * NOTIFYs their sessions (a displaced holder learns it at once, without losing
 * its session or its other locks), stores who/when/why with the displaced
 * holders in the name's `tokens` row, and grants the next waiters.
 *
 * @internal
 * @module
 */
import type { PoolClient, QueryConfig } from 'pg';
import { dataFrom, ownerFrom } from '../../core/owner-record.js';
import type { KeptBreak, Scan, ScannedClaim, ScanScope } from '../../core/scan.js';
import { sortTokens } from '../../distributed/break-options.js';
import type { BreakRecord } from '../../distributed/driver.js';
import { withTimeout } from './connection.js';
import type { PgContext } from './context.js';
import { decodeBreakRecord } from './grant.js';
import { mapError } from './map-error.js';
import { runStatement, type Statement } from './statements.js';

interface HolderRow {
  name: string;
  mode: string;
  token: string;
  owner: unknown;
  since_ms: number;
  expires_ms: number;
  ttl_ms?: number | null;
  data?: unknown;
}

interface QueueRow {
  kind: 'w' | 'b';
  name: string;
  mode: string | null;
  owner: unknown;
  since_ms: number | null;
  broken: unknown;
  data?: unknown;
}

/**
 * The claims (and, for a survey, the break records) in `scope`.
 *
 * @example
 * ```ts
 * const { claims } = await scanClaims(ctx, { prefix: 'jobs', exact: true, survey: false });
 * ```
 */
export async function scanClaims(ctx: PgContext, scope: ScanScope): Promise<Scan<ScannedClaim>> {
  const { pool, statements, namespace, config } = ctx;
  const values = [namespace, scope.prefix];
  const [holders, queues] = await Promise.all([
    runStatement(pool, scope.exact ? statements.holders : statements.list, values, config.requestTimeout, scope.exact ? `listing "${scope.prefix}"` : 'listing locks'),
    scope.survey ? runStatement(pool, statements.queues, values, config.requestTimeout, 'reading lock queues') : undefined,
  ]);
  const claims = (holders.rows as HolderRow[]).map(heldClaim);
  const breaks: KeptBreak[] = [];
  let place = 0n;
  for (const row of (queues?.rows ?? []) as QueueRow[]) {
    if (row.kind === 'w') {
      const mode = row.mode === 'shared' ? 'shared' : 'exclusive';
      const claim = { name: row.name, mode, order: place++, token: 0n, owner: ownerFrom(row.owner), since: new Date(Number(row.since_ms)), held: false } as const;
      claims.push(withData(claim, row.data));
    } else {
      const record = decodeBreakRecord(row.broken);
      if (record !== undefined) breaks.push({ name: row.name, record });
    }
  }
  return { claims, breaks };
}

function heldClaim(row: HolderRow): ScannedClaim {
  const token = BigInt(row.token);
  const claim = { name: row.name, mode: row.mode === 'shared' ? 'shared' : 'exclusive', order: token, token, owner: ownerFrom(row.owner), since: new Date(row.since_ms), expiresAt: new Date(row.expires_ms), held: true } as const;
  return withData(row.ttl_ms == null ? claim : { ...claim, ttlMs: Number(row.ttl_ms) }, row.data);
}

/** `claim` with its recipe data when the row carries usable data (untrusted: anything else is left out). */
function withData(claim: ScannedClaim, value: unknown): ScannedClaim {
  const data = dataFrom(value);
  return data === undefined ? claim : { ...claim, data };
}

/**
 * The break's transaction: `false`, rolled back, when the holders are no longer exactly `holders`.
 *
 * @example
 * ```ts
 * await breakHolders(ctx, 'jobs', holders, { reason: 'stuck', by: 'ops', at: new Date(), displaced });
 * ```
 */
export async function breakHolders(ctx: PgContext, name: string, holders: readonly ScannedClaim[], record: BreakRecord): Promise<boolean> {
  const doing = `breaking "${name}"`;
  const client = await withTimeout(ctx.pool.connect(), ctx.config.requestTimeout, doing).catch((error: unknown) => {
    throw mapError(error, doing);
  });
  let failed: unknown;
  try {
    await query(client, 'BEGIN', [], ctx, doing);
    await query(client, ctx.statements.lockName, [ctx.namespace, name], ctx, doing);
    const found = sortTokens((await query(client, ctx.statements.holders, [ctx.namespace, name], ctx, doing)).map((row) => BigInt(row.token)));
    const read = sortTokens(holders.map((h) => h.token));
    const same = found.length === read.length && found.every((token, i) => token === read[i]);
    if (same) await query(client, ctx.statements.breakLock, [ctx.namespace, name, record.reason, record.by, record.at.getTime()], ctx, doing);
    await query(client, same ? 'COMMIT' : 'ROLLBACK', [], ctx, doing);
    return same;
  } catch (error) {
    failed = error;
    // A failed ROLLBACK leaves the connection in an unknown state: it is then destroyed, not reused.
    await client.query('ROLLBACK').then(() => (failed = undefined), () => undefined);
    throw error;
  } finally {
    client.release(failed !== undefined);
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
