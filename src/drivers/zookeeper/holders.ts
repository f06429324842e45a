/**
 * Who holds what, read from ZooKeeper for `list()`, `holders()` and `break()`:
 * the holders of each name's queue (queue.ts), described by their holder
 * records and stats. `token` is the claim's czxid, `since` its creation time
 * (for a claim that waited, that is when it queued, not when it was granted),
 * `expiresAt` now + the holder's session timeout: the latest its lock could
 * still be held if the holder died now. Waiters are not listed there, but by
 * `readLockQueues`, with the break records.
 *
 * A listing reads the names, then each name's children, then each holder
 * node, every level in parallel (pipelined on the one connection).
 *
 * @internal
 * @module
 */
import type { LockQueue, WaiterInfo } from '../../distributed/driver.js';
import type { LockInfo } from '../../local/fenced-guard.js';
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
  const nodes = await absentAsEmpty(client.getChildren(paths.locksRoot), 'listing locks');
  const names = nodes
    .map((node) => decodeName(node))
    .filter((name): name is string => name !== undefined && name.startsWith(prefix))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const perName = await Promise.all(names.map((name) => readHolders(client, paths, name)));
  return perName.flat().map((holder) => holder.info);
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

/**
 * The waiters (claims not granted, queue order) and kept break records of
 * every name starting with `prefix`: the names, each name's children and each
 * waiter's node, and the break nodes, every level in parallel.
 *
 * @example
 * ```ts
 * for (const q of await readLockQueues(client, paths, '')) console.log(q.name, q.waiters.length);
 * ```
 */
export async function readLockQueues(client: ZkClient, paths: ZkPaths, prefix: string): Promise<LockQueue[]> {
  const namesUnder = async (root: string, doing: string): Promise<string[]> =>
    (await absentAsEmpty(client.getChildren(root), doing))
      .map((node) => decodeName(node))
      .filter((name): name is string => name !== undefined && name.startsWith(prefix));
  const [locked, broken] = await Promise.all([namesUnder(paths.locksRoot, 'listing locks'), namesUnder(paths.brokenRoot, 'listing break records')]);
  const [waiting, records] = await Promise.all([
    Promise.all(locked.map((name) => readWaiters(client, paths, name))),
    Promise.all(broken.map(async (name) => ({ name, record: decodeBreak(await dataOrUndefined(client, paths.broken(name), `reading the break record of "${name}"`)) }))),
  ]);
  const byName = new Map<string, LockQueue>();
  locked.forEach((name, i) => {
    if (waiting[i]!.length > 0) byName.set(name, { name, waiters: waiting[i]! });
  });
  for (const { name, record } of records) {
    if (record === undefined) continue;
    const entry = byName.get(name) ?? { name, waiters: [] };
    entry.lastBreak = record;
    byName.set(name, entry);
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

async function readWaiters(client: ZkClient, paths: ZkPaths, name: string): Promise<WaiterInfo[]> {
  const dir = paths.lockDir(name);
  const queue = toQueue(await absentAsEmpty(client.getChildren(dir), `listing the claims of "${name}"`));
  const held = new Set(holdersOf(queue));
  const waiters = await Promise.all(
    queue
      .filter((entry) => !held.has(entry))
      .map(async (entry): Promise<WaiterInfo | undefined> => {
        try {
          const { data, stat } = await client.getData(`${dir}/${entry.node}`);
          return { mode: entry.mode, owner: decodeHolder(data).owner, since: new Date(Number(stat.ctime.readBigInt64BE(0))) };
        } catch (error) {
          if (zkCode(error) === ZkCode.NO_NODE) return undefined; // granted or withdrawn meanwhile
          throw mapError(error, `reading a waiter of "${name}"`);
        }
      }),
  );
  return waiters.filter((w): w is WaiterInfo => w !== undefined);
}

async function dataOrUndefined(client: ZkClient, path: string, doing: string): Promise<Buffer | undefined> {
  try {
    return (await client.getData(path)).data;
  } catch (error) {
    if (zkCode(error) === ZkCode.NO_NODE) return undefined;
    throw mapError(error, doing);
  }
}
