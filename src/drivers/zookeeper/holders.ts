/**
 * Who holds what, read from ZooKeeper for `list()`, `holders()` and `break()`:
 * the holders of each name's queue (queue.ts), described by their holder
 * records and stats. `token` is the claim's czxid, `since` its creation time
 * (for a claim that waited, that is when it queued, not when it was granted),
 * `expiresAt` now + the holder's session timeout: the latest its lock could
 * still be held if the holder died now. Waiters are not listed there, but by
 * `surveyLocks`, with the holders and break records.
 *
 * A listing reads the names, then each name's children, then each holder
 * node, pipelined on the one connection, {@link WINDOW} names at a time.
 *
 * @internal
 * @module
 */
import type { BreakRecord, LockSurvey, WaiterInfo } from '../../distributed/driver.js';
import { mergeSurvey } from '../../distributed/survey.js';
import type { LockInfo } from '../../contracts/fenced-guard.js';
import { zxid, type ZkClient, type ZkStat } from './client.js';
import { mapError, ZkCode, zkCode } from './map-error.js';
import { decodeName, type ZkPaths } from './paths.js';
import { holdersOf, toQueue } from './queue.js';
import { decodeBreak, decodeHolder } from './record.js';

/**
 * A holder as read, with what `break` needs to delete it conditionally.
 *
 * @example
 * ```ts
 * for (const { info, path, version } of await readHolders(client, paths, 'jobs')) ops.push({ op: 'remove', path, version });
 * ```
 */
export interface ReadHolder {
  readonly info: LockInfo;
  readonly path: string;
  readonly version: number;
}

/**
 * The holders of every lock whose name starts with `prefix`, by name then token.
 *
 * @example
 * ```ts
 * for (const info of await listHolders(client, paths, 'billing/')) console.log(info.name, info.owner.pid);
 * ```
 */
export async function listHolders(client: ZkClient, paths: ZkPaths, prefix: string): Promise<LockInfo[]> {
  const names = await namesUnder(client, paths.locksRoot, prefix, 'listing locks');
  const perName = await inWindows(names, (name) => readHolders(client, paths, name));
  return perName.flat().map((holder) => holder.info);
}

/**
 * The holders, waiters (queue order) and kept break records of every name
 * starting with `prefix`, in one pass: the names, each name's children, each
 * claim's node, and the break nodes, {@link WINDOW} names in flight at a time.
 *
 * @example
 * ```ts
 * for (const s of await surveyLocks(client, paths, '')) console.log(s.name, s.holders.length, s.waiters.length);
 * ```
 */
export async function surveyLocks(client: ZkClient, paths: ZkPaths, prefix: string): Promise<LockSurvey[]> {
  const [locked, broken] = await Promise.all([
    namesUnder(client, paths.locksRoot, prefix, 'listing locks'),
    namesUnder(client, paths.brokenRoot, prefix, 'listing break records'),
  ]);
  const queues = await inWindows(locked, (name) => readQueue(client, paths, name));
  const records = await inWindows(broken, async (name) => ({ name, waiters: [], lastBreak: decodeBreak(await dataOf(client, paths.broken(name), `reading the break record of "${name}"`)) }));
  const holders = queues.flatMap((q) => q.holders);
  const found: Array<{ name: string; waiters: WaiterInfo[]; lastBreak?: BreakRecord }> = queues.filter((q) => q.waiters.length > 0);
  for (const r of records) if (r.lastBreak !== undefined) found.push({ name: r.name, waiters: [], lastBreak: r.lastBreak });
  return mergeSurvey(holders, found);
}

/**
 * Names read at once by a listing (each a few requests). Pipelining on the one
 * connection is what makes a listing fast, but tens of thousands of requests
 * outstanding at once overrun the client: its connection dropped
 * (CONNECTION_LOSS) with 10 000 names read all at once.
 */
const WINDOW = 256;

/** `fn` over `items`, at most {@link WINDOW} at a time (each one done starts the next), results in order. */
async function inWindows<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(WINDOW, items.length) }, worker));
  return out;
}

async function namesUnder(client: ZkClient, root: string, prefix: string, doing: string): Promise<string[]> {
  return (await absentAsEmpty(client.getChildren(root), doing))
    .map((node) => decodeName(node))
    .filter((name): name is string => name !== undefined && name.startsWith(prefix))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Every claim of `name`: the holders as LockInfo, the others as waiters, in queue order. */
async function readQueue(client: ZkClient, paths: ZkPaths, name: string): Promise<{ name: string; holders: LockInfo[]; waiters: WaiterInfo[] }> {
  const dir = paths.lockDir(name);
  const queue = toQueue(await absentAsEmpty(client.getChildren(dir), `listing the claims of "${name}"`));
  const held = new Set(holdersOf(queue));
  const read = await Promise.all(
    queue.map(async (entry) => {
      try {
        return { entry, ...(await client.getData(`${dir}/${entry.node}`)) };
      } catch (error) {
        if (zkCode(error) === ZkCode.NO_NODE) return undefined; // released, granted or withdrawn meanwhile
        throw mapError(error, `reading a claim of "${name}"`);
      }
    }),
  );
  const holders: LockInfo[] = [];
  const waiters: WaiterInfo[] = [];
  for (const r of read) {
    if (r === undefined) continue;
    if (held.has(r.entry)) holders.push(describe(name, r.entry.mode, r.data, r.stat));
    else waiters.push({ mode: r.entry.mode, owner: decodeHolder(r.data).owner, since: new Date(Number(r.stat.ctime.readBigInt64BE(0))) });
  }
  return { name, holders, waiters };
}

async function dataOf(client: ZkClient, path: string, doing: string): Promise<Buffer | undefined> {
  try {
    return (await client.getData(path)).data;
  } catch (error) {
    if (zkCode(error) === ZkCode.NO_NODE) return undefined;
    throw mapError(error, doing);
  }
}

/**
 * The current holders of `name`, oldest first.
 *
 * @example
 * ```ts
 * const [holder] = await readHolders(client, paths, 'jobs');
 * ```
 */
export async function readHolders(client: ZkClient, paths: ZkPaths, name: string): Promise<ReadHolder[]> {
  const dir = paths.lockDir(name);
  const queue = toQueue(await absentAsEmpty(client.getChildren(dir), `listing the holders of "${name}"`));
  const read = await Promise.all(
    holdersOf(queue).map(async (entry): Promise<ReadHolder | undefined> => {
      const path = `${dir}/${entry.node}`;
      try {
        const { data, stat } = await client.getData(path);
        return { info: describe(name, entry.mode, data, stat), path, version: stat.version };
      } catch (error) {
        if (zkCode(error) === ZkCode.NO_NODE) return undefined; // released meanwhile
        throw mapError(error, `reading the holder of "${name}"`);
      }
    }),
  );
  return read.filter((holder): holder is ReadHolder => holder !== undefined);
}

function describe(name: string, mode: 'exclusive' | 'shared', data: Buffer | undefined, stat: ZkStat): LockInfo {
  const { owner, ttlMs } = decodeHolder(data);
  const since = new Date(Number(stat.ctime.readBigInt64BE(0)));
  const info: LockInfo = { name, mode, token: zxid(stat.czxid), owner, since, backend: 'zookeeper' };
  if (ttlMs !== undefined) {
    info.expiresAt = new Date(Math.max(Date.now(), since.getTime()) + ttlMs);
    info.ttlMs = ttlMs;
  }
  return info;
}

/** A listing of a node that does not exist (nothing was ever locked there) is empty. */
async function absentAsEmpty(children: Promise<string[]>, doing: string): Promise<string[]> {
  try {
    return await children;
  } catch (error) {
    if (zkCode(error) === ZkCode.NO_NODE) return [];
    throw mapError(error, doing);
  }
}

