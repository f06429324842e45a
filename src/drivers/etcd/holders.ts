/**
 * Who holds what, read from etcd for `list()`, `holders()` and `break()`: the
 * holders of each name's queue (queue.ts), described by their holder records,
 * with `expiresAt` from their lease's remaining TTL on etcd's clock (whole
 * seconds, so up to a second early).
 *
 * A listing is one range read plus one LeaseTimeToLive per distinct lease.
 * Waiters are not listed there, but by `surveyLocks`, with the holders and break records.
 *
 * @internal
 * @module
 */
import type { BreakRecord, LockSurvey, WaiterInfo } from '../../distributed/driver.js';
import { mergeSurvey } from '../../distributed/survey.js';
import type { LockInfo } from '../../contracts/fenced-guard.js';
import { encodeName, rangeEnd } from './keys.js';
import type { LockContext } from './context.js';
import { mapError } from './map-error.js';
import { holdersOf, toQueue, type QueueEntry } from './queue.js';
import { decodeBreak, decodeHolder } from './record.js';
import { EtcdSession } from './session.js';

/**
 * Every claim under `keyPrefix` (a name's queue, or every queue of names with a
 * prefix), grouped by name, oldest first.
 *
 * @example
 * ```ts
 * const queues = await readQueues(ctx, ctx.keys.queue('jobs'));
 * ```
 */
export async function readQueues(ctx: LockContext, keyPrefix: string): Promise<Map<string, QueueEntry[]>> {
  const key = Buffer.from(keyPrefix);
  let kvs;
  try {
    ({ kvs } = await ctx.client.etcd.kv.range({ key, range_end: rangeEnd(key) }));
  } catch (error) {
    throw mapError(error, 'listing locks');
  }
  const queues = new Map<string, QueueEntry[]>();
  for (const entry of toQueue(ctx.keys, kvs)) {
    const queue = queues.get(entry.name);
    if (queue === undefined) queues.set(entry.name, [entry]);
    else queue.push(entry);
  }
  return queues;
}

/**
 * The holders of every name whose name starts with `prefix`, by name then token.
 *
 * @example
 * ```ts
 * for (const info of await listHolders(ctx, 'billing/')) console.log(info.name, info.owner.pid);
 * ```
 */
export async function listHolders(ctx: LockContext, prefix: string): Promise<LockInfo[]> {
  const queues = await readQueues(ctx, ctx.keys.listPrefix(prefix));
  const holders: QueueEntry[] = [];
  for (const [name, queue] of [...queues].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (name.startsWith(prefix)) holders.push(...holdersOf(queue));
  }
  return describe(ctx, holders);
}

/**
 * The current holders of `name`.
 *
 * @example
 * ```ts
 * const [holder] = await nameHolders(ctx, 'jobs');
 * ```
 */
export async function nameHolders(ctx: LockContext, name: string): Promise<LockInfo[]> {
  const queues = await readQueues(ctx, ctx.keys.queue(name));
  return describe(ctx, holdersOf(queues.get(name) ?? []));
}

/** Claims as LockInfo, with `expiresAt` from their leases. */
export async function describe(ctx: LockContext, entries: readonly QueueEntry[]): Promise<LockInfo[]> {
  const leases = [...new Set(entries.map((e) => e.lease))];
  const now = Date.now();
  const ttls = new Map(
    await Promise.all(
      leases.map(async (lease) => [lease, await EtcdSession.leaseState(ctx.client, lease).catch(() => undefined)] as const),
    ),
  );
  return entries.map((entry) => {
    const { owner, since } = decodeHolder(entry.value);
    const info: LockInfo = { name: entry.name, mode: entry.mode, token: entry.revision, owner, since, backend: 'etcd' };
    const ttl = ttls.get(entry.lease);
    if (ttl !== undefined) {
      info.expiresAt = new Date(now + ttl.left * 1000);
      info.ttlMs = ttl.granted * 1000;
    }
    return info;
  });
}

/**
 * The holders, waiters (claims not granted, oldest first) and kept break
 * records of every name starting with `prefix`: one range read of the claims,
 * one of `<namespace>/broken/`, and one LeaseTimeToLive per distinct lease.
 *
 * @example
 * ```ts
 * for (const s of await surveyLocks(ctx, 'billing/')) console.log(s.name, s.holders.length, s.waiters.length);
 * ```
 */
export async function surveyLocks(ctx: LockContext, prefix: string): Promise<LockSurvey[]> {
  const brokenStart = Buffer.from(prefix === '' ? ctx.keys.brokenRoot : `${ctx.keys.brokenRoot}${encodeName(prefix, true)}`);
  const [queues, broken] = await Promise.all([
    readQueues(ctx, ctx.keys.listPrefix(prefix)),
    ctx.client.etcd.kv.range({ key: brokenStart, range_end: rangeEnd(brokenStart) }).catch((error: unknown) => {
      throw mapError(error, 'reading break records');
    }),
  ]);
  const found: Array<{ name: string; waiters: WaiterInfo[]; lastBreak?: BreakRecord }> = [];
  const holders: QueueEntry[] = [];
  for (const [name, queue] of queues) {
    if (!name.startsWith(prefix)) continue;
    const held = new Set(holdersOf(queue));
    holders.push(...held);
    const waiters = queue.filter((entry) => !held.has(entry)).map((entry) => ({ mode: entry.mode, ...decodeHolder(entry.value) }));
    if (waiters.length > 0) found.push({ name, waiters });
  }
  for (const kv of broken.kvs) {
    let name: string;
    try {
      name = decodeURIComponent(kv.key.toString('utf8').slice(ctx.keys.brokenRoot.length));
    } catch {
      continue; // not written by deadbolt
    }
    const record = decodeBreak(kv.value);
    if (record !== undefined && name.startsWith(prefix)) found.push({ name, waiters: [], lastBreak: record });
  }
  return mergeSurvey(await describe(ctx, holders), found);
}
