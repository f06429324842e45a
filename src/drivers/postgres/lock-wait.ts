/**
 * Waiting in PostgreSQL's lock manager: the watch on what is in the way of a
 * waiting claim, for claims whose row says `wake_lock`.
 *
 * Why: a NOTIFY wakes every listening backend of the database (PostgreSQL's
 * SignalBackends), so a hand-off by NOTIFY grows with the number of waiting
 * sessions; a backend blocked on an advisory key is woken alone, when that
 * key is given up (bench/postgres/wake-paths.mjs: flat from 10 to 100 waiters).
 * Every claim's key is held by its session connection (sql.ts `acquire`) and
 * given up by its release at COMMIT; `wait_grant`, on a connection of the
 * wait pool, blocks on the key of the nearest claim ahead that blocks ours,
 * again until we are granted, and answers with the grant.
 *
 * The watch ends with the first of: that answer (granted, gone, or the lease
 * ahead due: `lock_timeout`), a grant NOTIFYed (a break or a reaper granted
 * us: the holder it displaced may still hold its key), or `cancel()`. A wait
 * still blocked when the watch ends is cancelled on the server
 * (`pg_cancel_backend`) before its connection goes back to the pool, so it
 * can never be woken for someone else. With no wait connection to be had (the
 * pool is full) or one that fails, the claim moves to NOTIFY for good
 * (`wait_grant` with a timeout of 0, through the query pool), and the next
 * watch is engine.ts's NOTIFY-and-timer one. A cancel that reaches the
 * backend before its statement starts is ignored by PostgreSQL: that wait
 * then holds its connection until its blocker goes or its `lock_timeout`,
 * finds the claim withdrawn and answers `gone`; nothing else is affected.
 *
 * @internal
 * @module
 */
import type { Pool, PoolClient } from 'pg';
import type { ClaimRequest, ClaimWatch, WatchEvent } from '../../core/engine.js';
import type { PgContext } from './context.js';
import { grantFromRow, type GrantRow } from './grant.js';
import type { PostgresSession } from './session.js';
import { runStatement } from './statements.js';
import type { TrackedClaim } from './tracked-claim.js';

/** node-postgres's backend pid of a connection; its type definitions lack it. */
type WithPid = PoolClient & { processID?: number };

/**
 * Watch a waiting claim by blocking in the lock manager for at most
 * `timeoutMs` (when the earliest lease ahead runs out).
 *
 * @example
 * ```ts
 * const watch = waitInLockManager(ctx, request, tracked, 840, (event) => recheck(event));
 * ```
 */
export function waitInLockManager(
  ctx: PgContext,
  request: ClaimRequest<PostgresSession>,
  tracked: TrackedClaim,
  timeoutMs: number,
  onEvent: (event: WatchEvent) => void,
): ClaimWatch {
  let done = false;
  let client: WithPid | undefined;
  let blocked = false;
  let cancelling: Promise<void> | undefined;
  let grantWatch: ClaimWatch | undefined;
  const values = [request.session.id, request.id, ctx.namespace, request.name];
  const stop = (): void => {
    if (done) return;
    done = true;
    grantWatch?.cancel();
    if (blocked && client !== undefined) cancelling = cancelOnServer(ctx.pool, client);
  };
  const finish = (event: WatchEvent): void => {
    if (done) return;
    stop();
    onEvent(event);
  };
  // A grant NOTIFYed (or kept since the read) ends the wait too, maybe at once.
  grantWatch = tracked.granting.watch(finish);
  if (done) {
    grantWatch.cancel();
    return { cancel: () => {} };
  }

  const toNotify = (): Promise<void> =>
    runStatement(ctx.pool, ctx.statements.waitGrant, [...values, 0], ctx.config.requestTimeout, `waiting for "${request.name}"`).then(({ rows }) =>
      answered(rows[0] as GrantRow),
    );
  const answered = (row: GrantRow | undefined): void => {
    if (done) return;
    if (row?.status === 'granted') tracked.granted(grantFromRow(row)); // ends the watch through `granting`
    if (row?.status === 'notify') tracked.waitsInLockManager = false;
    finish('gone'); // the core reads again: our grant, `poll`, or the NOTIFY watch
  };
  const wait = async (): Promise<void> => {
    client = (await checkOut(ctx.waits)) as WithPid | undefined;
    if (client === undefined) return toNotify(); // the pool is full: wait by NOTIFY
    if (done) return client.release();
    const waiting = client;
    blocked = true;
    let res;
    try {
      const { text, name } = ctx.statements.waitGrant;
      res = await waiting.query({ name, text, values: [...values, Math.ceil(timeoutMs)] });
    } catch (error) {
      blocked = false;
      if (done && isCancelled(error)) {
        // our own cancel: the connection is sound once it has been delivered
        await cancelling;
        return waiting.release();
      }
      waiting.release(error as Error); // dropped, not reused
      if (done) return;
      tracked.waitsInLockManager = false;
      return toNotify();
    }
    blocked = false;
    // a cancel sent as the answer came must reach the connection before anyone else's wait does
    await cancelling;
    waiting.release();
    answered(res.rows[0] as GrantRow);
  };
  wait().catch(() => finish('uncertain'));
  return { cancel: stop };
}

/** PostgreSQL's `query_canceled`, as `pg_cancel_backend` makes it. */
function isCancelled(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === '57014';
}

/** A connection of `pool` if one is idle or may be opened now; never queues behind other waits. */
async function checkOut(pool: Pool): Promise<PoolClient | undefined> {
  if (pool.idleCount === 0 && pool.totalCount >= (pool.options.max ?? 10)) return undefined;
  return pool.connect().catch(() => undefined);
}

/** Cancel the statement `client` is blocked in; best effort (the wait's own error path drops the connection). */
function cancelOnServer(pool: Pool, client: WithPid): Promise<void> {
  if (client.processID === undefined) return Promise.resolve();
  return pool.query('SELECT pg_cancel_backend($1)', [client.processID]).then(
    () => {},
    () => {},
  );
}
