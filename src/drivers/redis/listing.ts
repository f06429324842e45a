/**
 * Redis's side of the core's listings and breaks (src/core/listing.ts,
 * break-lock.ts). The server keeps the holders (`lock:`, `readers:`) and the
 * queue (`queue:`) itself, so a scan reports each claim with the server's
 * verdict (`held`) rather than leaving the queue rule to the core: holders in
 * token order, waiters in the server's queue order (their `since` is not kept).
 *
 * One name is one script call; a prefix walks the namespace's index of held
 * names (`<ns>:names`, a sorted set read by lexicographic range) a page at a
 * time, and for a survey the waiters of those names and the index of broken
 * names (`<ns>:broken`) the same way. Holders whose lease ran out are dropped
 * on the way, and names nobody holds any more leave the index.
 *
 * A break is one script (protocol.ts): only if the holders are still exactly
 * those tokens, it deletes their records, stores the break record as the
 * name's tombstone, publishes `b|<claim>` to each holder's session and wakes
 * the next waiter. Their sessions are left alone.
 *
 * @internal
 * @module
 */
import { ownerFrom, jsonObject } from '../../core/owner-record.js';
import type { KeptBreak, Scan, ScannedClaim, ScanScope } from '../../core/scan.js';
import { breakFromJson, breakToJson } from '../../distributed/break-record.js';
import type { BreakRecord } from '../../distributed/driver.js';
import type { RedisContext } from './context.js';
import { mapError } from './map-error.js';
import { decodeRecord } from './record.js';

/** Names read per script call: each call runs alone on the server, so it is kept short. */
const PAGE = 200;

/**
 * The claims (and, for a survey, the break records) in `scope`.
 *
 * @example
 * ```ts
 * const { claims } = await scanClaims(ctx, { prefix: 'jobs', exact: true, survey: false });
 * ```
 */
export async function scanClaims(ctx: RedisContext, scope: ScanScope): Promise<Scan<ScannedClaim>> {
  const claims: ScannedClaim[] = [];
  if (scope.exact) {
    const rows = await run(ctx, 'inspect', [ctx.prefix, 'one', scope.prefix], `reading the holders of "${scope.prefix}"`);
    claims.push(...holderRows(rows, rows.length));
  } else {
    await pages(scope.prefix, async (min, max) => {
      const rows = await run(ctx, 'inspect', [ctx.prefix, 'range', min, max, PAGE], `listing the locks under "${scope.prefix}"`);
      claims.push(...holderRows(rows, rows.length - 1));
      return rows[rows.length - 1]!;
    });
  }
  if (!scope.survey) return { claims };
  const breaks: KeptBreak[] = [];
  let place = 0n;
  for (const index of ['names', 'broken']) {
    await pages(scope.prefix, async (min, max) => {
      const rows = await run(ctx, 'queues', [ctx.prefix, index, min, max, PAGE], `reading the queues under "${scope.prefix}"`);
      for (let i = 0; i + 3 < rows.length; i += 4) {
        const name = rows[i]!;
        if (rows[i + 1] === 'w') {
          const mode = rows[i + 2] === 's' ? 'shared' : 'exclusive';
          claims.push({ name, mode, order: place++, token: 0n, owner: ownerFrom(jsonObject(rows[i + 3])), held: false });
        } else {
          const record = breakFromJson(rows[i + 2]);
          if (record !== undefined) breaks.push({ name, record });
        }
      }
      return rows[rows.length - 1]!;
    });
  }
  return { claims, breaks };
}

/** Walk a lexicographic index a page at a time: `page(min, max)` returns the page's last name, '' after the last page. */
async function pages(prefix: string, page: (min: string | Buffer, max: string | Buffer) => Promise<string>): Promise<void> {
  const max = prefix === '' ? '+' : Buffer.concat([Buffer.from(`[${prefix}`), Buffer.from([0xff])]);
  let min: string | Buffer = prefix === '' ? '-' : `[${prefix}`;
  for (;;) {
    const cursor = await page(min, max);
    if (cursor === '') return;
    // the page was full: the next one starts right after its last name
    min = `(${cursor}`;
  }
}

async function run(ctx: RedisContext, script: 'inspect' | 'queues', args: (string | number | Buffer)[], doing: string): Promise<string[]> {
  try {
    return (await ctx.client.run(script, args)) as string[];
  } catch (error) {
    throw mapError(error, doing);
  }
}

/**
 * Rows `name, x|s, record, expiresAt` → held claims (`order` is the token:
 * grants take tokens in order), with their recipe data. An empty record is a
 * foreign holder (its expiry '' when it has none).
 */
function holderRows(rows: string[], end: number): ScannedClaim[] {
  const claims: ScannedClaim[] = [];
  for (let i = 0; i + 3 < end; i += 4) {
    const name = rows[i]!;
    if (rows[i + 2] === '') {
      // a foreign holder (the script never sends its value): placeholders, token 0, its expiry if it has one
      const claim: ScannedClaim = { name, mode: 'exclusive', order: 0n, token: 0n, owner: ownerFrom({}), held: true };
      claims.push(rows[i + 3] === '' ? claim : { ...claim, expiresAt: new Date(Number(rows[i + 3])) });
      continue;
    }
    const { token, owner, since, data } = decodeRecord(rows[i + 2]!);
    const mode = rows[i + 1] === 'x' ? 'exclusive' : 'shared';
    const claim: ScannedClaim = { name, mode, order: token, token, owner, since, expiresAt: new Date(Number(rows[i + 3])), held: true };
    claims.push(data === undefined ? claim : { ...claim, data });
  }
  return claims;
}

/**
 * The break script: `false` when the holders are no longer exactly `holders`.
 *
 * @example
 * ```ts
 * await breakHolders(ctx, 'jobs', holders, { reason: 'stuck', by: 'ops', at: new Date(), displaced });
 * ```
 */
export async function breakHolders(ctx: RedisContext, name: string, holders: readonly ScannedClaim[], record: BreakRecord): Promise<boolean> {
  const tokens = holders.map((holder) => holder.token.toString());
  try {
    return (await ctx.client.run('break', [ctx.prefix, name, breakToJson(record, record.displaced ?? []), ...tokens])) === 1;
  } catch (error) {
    throw mapError(error, `breaking "${name}"`);
  }
}
