/**
 * Listing holders: `holders(name)` reads one name; `list(prefix)` walks the
 * namespace's index of held names (`<ns>:names`, a sorted set read by
 * lexicographic range, so a prefix is one range) a page at a time. Holders
 * whose lease ran out are dropped on the way, and names nobody holds any more
 * leave the index.
 *
 * @internal
 * @module
 */
import { breakFromJson } from '../../distributed/break-record.js';
import type { BreakRecord, LockSurvey, WaiterInfo } from '../../distributed/driver.js';
import { mergeSurvey } from '../../distributed/survey.js';
import type { LockInfo, LockOwner } from '../../contracts/fenced-guard.js';
import type { RedisContext } from './context.js';
import { mapError } from './map-error.js';
import { decodeRecord } from './record.js';

/** Names read per script call: each call runs alone on the server, so it is kept short. */
const PAGE = 200;

/**
 * The current holders of `name`, oldest grant first.
 *
 * @example
 * ```ts
 * const [holder] = await nameHolders(ctx, 'jobs');
 * ```
 */
export async function nameHolders(ctx: RedisContext, name: string): Promise<LockInfo[]> {
  const rows = await inspect(ctx, [ctx.prefix, 'one', name], `reading the holders of "${name}"`);
  return toInfos(rows, rows.length);
}

/**
 * Every holder of every name starting with `prefix`, by name, then oldest grant first.
 *
 * @example
 * ```ts
 * const infos = await listHolders(ctx, 'billing/');
 * ```
 */
export async function listHolders(ctx: RedisContext, prefix: string): Promise<LockInfo[]> {
  const found: LockInfo[] = [];
  await pages(prefix, async (min, max) => {
    const rows = await inspect(ctx, [ctx.prefix, 'range', min, max, PAGE], `listing the locks under "${prefix}"`);
    found.push(...toInfos(rows, rows.length - 1));
    return rows[rows.length - 1]!;
  });
  return found.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.token < b.token ? -1 : a.token > b.token ? 1 : 0));
}

/**
 * The holders, waiters (queue order; waiters of names nobody held since the
 * last listing may be missed until they look again) and kept break records of
 * every name starting with `prefix`, a page of names per script call. `since`
 * of a waiter is unknown on Redis.
 *
 * @example
 * ```ts
 * for (const s of await surveyLocks(ctx, '')) console.log(s.name, s.waiters.length);
 * ```
 */
export async function surveyLocks(ctx: RedisContext, prefix: string): Promise<LockSurvey[]> {
  const byName = new Map<string, { name: string; waiters: WaiterInfo[]; lastBreak?: BreakRecord }>();
  const entry = (name: string) => {
    let q = byName.get(name);
    if (q === undefined) byName.set(name, (q = { name, waiters: [] }));
    return q;
  };
  const holders = await listHolders(ctx, prefix);
  for (const index of ['names', 'broken']) {
    await pages(prefix, async (min, max) => {
      const rows = await inspect(ctx, [ctx.prefix, index, min, max, PAGE], `reading the queues under "${prefix}"`, 'queues');
      for (let i = 0; i + 3 < rows.length; i += 4) {
        if (rows[i + 1] === 'w') entry(rows[i]!).waiters.push({ mode: rows[i + 2] === 's' ? 'shared' : 'exclusive', owner: ownerOf(rows[i + 3]!) });
        else {
          const record = breakFromJson(rows[i + 2]);
          if (record !== undefined) entry(rows[i]!).lastBreak = record;
        }
      }
      return rows[rows.length - 1]!;
    });
  }
  return mergeSurvey(holders, [...byName.values()]);
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

/** A session's owner JSON; placeholders for what deadbolt did not write. */
function ownerOf(text: string): LockOwner {
  return decodeRecord(`0|?|?|0|${text}`).owner;
}

async function inspect(ctx: RedisContext, args: (string | number | Buffer)[], doing: string, script: 'inspect' | 'queues' = 'inspect'): Promise<string[]> {
  try {
    return (await ctx.client.run(script, args)) as string[];
  } catch (error) {
    throw mapError(error, doing);
  }
}

/** Rows `name, x|s, record, expiresAt` → LockInfo, oldest grant first. */
function toInfos(rows: string[], end: number): LockInfo[] {
  const infos: LockInfo[] = [];
  for (let i = 0; i + 3 < end; i += 4) {
    const record = decodeRecord(rows[i + 2]!);
    infos.push({
      name: rows[i]!,
      mode: rows[i + 1] === 'x' ? 'exclusive' : 'shared',
      token: record.token,
      owner: record.owner,
      since: record.since,
      expiresAt: new Date(Number(rows[i + 3])),
      backend: 'redis',
    });
  }
  return infos.sort((a, b) => (a.token < b.token ? -1 : a.token > b.token ? 1 : 0));
}
