/**
 * ZooKeeper's side of the core's listings and breaks (src/core/listing.ts,
 * break-lock.ts). A scan reads the names, then each name's children, then each
 * claim node (for a listing only the holders', by the core's rule on the
 * sequence suffixes), pipelined on the one connection, {@link WINDOW} names at
 * a time. `token` is the node's czxid, `since` its creation time (for a claim
 * that waited, when it queued), `expiresAt` now + the holder's session timeout
 * from its record: the latest its lock could still be held if it died now.
 * A child deadbolt did not write (layout.ts) is listed as an exclusive claim
 * with placeholder owner fields; its data is not read.
 *
 * A break is one transaction, conditional on every holder node's version:
 * write the break record to `<namespace>/broken/<name>`, record the displaced
 * tokens as the lock node's last departure, and remove the holders' nodes.
 * Their sessions are left alone. Because record and deletion are one
 * transaction, a displaced holder whose watch reports the deletion finds its
 * token in the departure ("broken"), and so does the next holder.
 *
 * @internal
 * @module
 */
import { holdersOf } from '../../core/blocker.js';
import { ownerFrom } from '../../core/owner-record.js';
import type { KeptBreak, Scan, ScannedClaim, ScanScope } from '../../core/scan.js';
import type { BreakRecord } from '../../distributed/driver.js';
import { zxid, type ZkClient, type ZkOp } from './client.js';
import { mapError, ZkCode, zkCode } from './map-error.js';
import { decodeName, type ZkPaths } from './paths.js';
import { toQueue } from './queue.js';
import { decodeBreak, decodeHolder, encodeBreak, encodeDeparture } from './record.js';

/**
 * A claim node as a scan reads it: its path and version are what a break removes.
 *
 * @example
 * ```ts
 * ops.push({ op: 'remove', path: claim.path, version: claim.version });
 * ```
 */
export interface ZkListed extends ScannedClaim {
  readonly path: string;
  readonly version: number;
}

/**
 * Names read at once by a scan (each a few requests). Pipelining on the one
 * connection is what makes a listing fast, but tens of thousands of requests
 * outstanding at once overrun the client: its connection dropped
 * (CONNECTION_LOSS) with 10 000 names read all at once.
 */
const WINDOW = 256;

/**
 * The claims (and, for a survey, the break records) in `scope`.
 *
 * @example
 * ```ts
 * const { claims } = await scanClaims(client, paths, { prefix: 'jobs', exact: true, survey: false });
 * ```
 */
export async function scanClaims(client: ZkClient, paths: ZkPaths, scope: ScanScope): Promise<Scan<ZkListed>> {
  const [locked, broken] = await Promise.all([
    scope.exact ? [scope.prefix] : namesUnder(client, paths.locksRoot, scope.prefix, 'listing locks'),
    scope.survey ? namesUnder(client, paths.brokenRoot, scope.prefix, 'listing break records') : [],
  ]);
  const claims = (await inWindows(locked, (name) => readClaims(client, paths, name, scope.survey))).flat();
  const breaks = await inWindows(broken, async (name): Promise<KeptBreak[]> => {
    const record = decodeBreak(await dataOf(client, paths.broken(name), `reading the break record of "${name}"`));
    return record === undefined ? [] : [{ name, record }];
  });
  return { claims, breaks: breaks.flat() };
}

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
    .filter((name): name is string => name !== undefined && name.startsWith(prefix));
}

/** The claims of `name` (only those that can hold, unless every claim is wanted), each with its node read. */
async function readClaims(client: ZkClient, paths: ZkPaths, name: string, all: boolean): Promise<ZkListed[]> {
  const dir = paths.lockDir(name);
  const queue = toQueue(await absentAsEmpty(client.getChildren(dir), `listing the claims of "${name}"`), paths.layout).map((entry) => ({ ...entry, order: BigInt(entry.seq), token: 0n }));
  const read = await Promise.all(
    (all ? queue : holdersOf(queue)).map(async (entry): Promise<ZkListed | undefined> => {
      const path = `${dir}/${entry.node}`;
      let node;
      try {
        node = await client.getData(path);
      } catch (error) {
        if (zkCode(error) === ZkCode.NO_NODE) return undefined; // released, granted or withdrawn meanwhile
        throw mapError(error, `reading a claim of "${name}"`);
      }
      // a foreign node's data is never read: placeholders, and no expiry (its session timeout is unknown)
      const { owner, ttlMs, data } = entry.foreign === true ? { owner: ownerFrom(undefined), ttlMs: undefined, data: undefined } : decodeHolder(node.data);
      const since = new Date(Number(node.stat.ctime.readBigInt64BE(0)));
      const base = { name, mode: entry.mode, order: entry.order, token: zxid(node.stat.czxid), owner, since, path, version: node.stat.version };
      const claim = data === undefined ? base : { ...base, data };
      return ttlMs === undefined ? claim : { ...claim, ttlMs, expiresAt: new Date(Math.max(Date.now(), since.getTime()) + ttlMs) };
    }),
  );
  return read.filter((claim): claim is ZkListed => claim !== undefined);
}

async function dataOf(client: ZkClient, path: string, doing: string): Promise<Buffer | undefined> {
  try {
    return (await client.getData(path)).data;
  } catch (error) {
    if (zkCode(error) === ZkCode.NO_NODE) return undefined;
    throw mapError(error, doing);
  }
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
 * The break's transaction: `false` when a holder left, or another break
 * created the record, since the scan.
 *
 * @example
 * ```ts
 * await breakHolders(client, paths, 'jobs', holders, { reason: 'stuck', by: 'ops', at: new Date(), displaced });
 * ```
 */
export async function breakHolders(client: ZkClient, paths: ZkPaths, name: string, holders: readonly ZkListed[], record: BreakRecord): Promise<boolean> {
  const recordPath = paths.broken(name);
  const data = encodeBreak(record, record.displaced ?? []);
  try {
    const recordExists = (await client.exists(recordPath)) !== null;
    if (!recordExists) await client.mkdirp(paths.brokenRoot);
    const ops: ZkOp[] = [
      recordExists ? { op: 'setData', path: recordPath, data, version: -1 } : { op: 'create', path: recordPath, data },
      { op: 'setData', path: paths.lockDir(name), data: encodeDeparture({ broken: holders.map((h) => h.token.toString()) }), version: -1 },
      ...holders.map((h): ZkOp => ({ op: 'remove', path: h.path, version: h.version })),
    ];
    await client.multi(ops);
    return true;
  } catch (error) {
    const code = zkCode(error);
    if (code === ZkCode.NO_NODE || code === ZkCode.BAD_VERSION || code === ZkCode.NODE_EXISTS) return false;
    throw mapError(error, `breaking "${name}"`);
  }
}
