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
import type { LockInfo } from '../../local/fenced-guard.js';
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
  const max = prefix === '' ? '+' : Buffer.concat([Buffer.from(`[${prefix}`), Buffer.from([0xff])]);
  let min: string | Buffer = prefix === '' ? '-' : `[${prefix}`;
  for (;;) {
    const rows = await inspect(ctx, [ctx.prefix, 'range', min, max, PAGE], `listing the locks under "${prefix}"`);
    const cursor = rows[rows.length - 1]!;
    found.push(...toInfos(rows, rows.length - 1));
    if (cursor === '') break;
    // the page was full: the next one starts right after its last name
    min = `(${cursor}`;
  }
  return found.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.token < b.token ? -1 : a.token > b.token ? 1 : 0));
}

async function inspect(ctx: RedisContext, args: (string | number | Buffer)[], doing: string): Promise<string[]> {
  try {
    return (await ctx.client.run('inspect', args)) as string[];
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
