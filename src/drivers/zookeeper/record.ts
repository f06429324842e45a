/**
 * What the driver stores in node data, as JSON so that `zkCli.sh get` shows it:
 * - a claim node: its holder record (who, and the session timeout, which
 *   listings turn into `expiresAt`), and for a recipe's claim its `data` (a
 *   field only such claims have: a plain lock's record is what it always was,
 *   so every deadbolt version reads every other's);
 * - a lock node: the last break's displaced tokens, written in the same
 *   transaction as the break, so that the displaced holder and the next holder
 *   can tell "broken" from "released" or "expired";
 * - `broken/<name>`: the last break record of that name.
 * Records are informative: none is read to decide who holds a lock.
 *
 * @internal
 * @module
 */
import type { BreakRecord } from '../../distributed/driver.js';
import { breakFromJson, breakToJson } from '../../distributed/break-record.js';
import type { LockInfo, LockOwner } from '../../contracts/fenced-guard.js';
import { dataFrom, jsonObject, ownerFrom } from '../../core/owner-record.js';

/**
 * The data of a claim node.
 *
 * @example
 * ```ts
 * const record: HolderRecord = { id: 'a1', host: 'web-1', pid: 42, ttlMs: 10_000 };
 * ```
 */
export interface HolderRecord extends LockOwner {
  /** The holder's session timeout, in ms. */
  ttlMs: number;
  /** A recipe's data (ClaimRequest.data); absent for a plain lock. */
  data?: string;
}

/**
 * The data of a lock node: which claims the last break displaced.
 *
 * @example
 * ```ts
 * encodeDeparture({ broken: ['4294967301'] } satisfies Departure);
 * ```
 */
export interface Departure {
  /** Tokens (czxid, decimal) of the claims displaced by the last break. */
  broken?: string[];
}

/**
 * A claim node's data. `data` (a recipe's) is a field only when given: a plain
 * lock's record stays byte for byte what older versions write and read.
 *
 * @example
 * ```ts
 * encodeHolder({ id: 'a1', host: 'web-1', pid: 42 }, 10_000);
 * encodeHolder(owner, 10_000, 'leader at 10.0.0.7'); // {"id":…,"ttlMs":10000,"data":"leader at 10.0.0.7"}
 * ```
 */
export function encodeHolder(owner: LockOwner, ttlMs: number, data?: string): Buffer {
  const record: HolderRecord = { id: owner.id, host: owner.host, pid: owner.pid, ttlMs };
  if (owner.command !== undefined) record.command = owner.command;
  if (data !== undefined) record.data = data;
  return Buffer.from(JSON.stringify(record));
}

/**
 * Read a holder record; data not written by deadbolt gives placeholders, never
 * an error. `data` is there only when the record has a string of at most
 * MAX_CLAIM_DATA_BYTES there (dataFrom): anything else was not written by deadbolt.
 *
 * @example
 * ```ts
 * const { owner, ttlMs, data } = decodeHolder(node.data);
 * ```
 */
export function decodeHolder(data: Buffer | undefined): { owner: LockOwner; ttlMs: number | undefined; data?: string } {
  const parsed = jsonObject(data);
  const holder = { owner: ownerFrom(parsed), ttlMs: typeof parsed.ttlMs === 'number' ? parsed.ttlMs : undefined };
  const recipe = dataFrom(parsed.data);
  return recipe === undefined ? holder : { ...holder, data: recipe };
}

/**
 * A lock node's data after a break.
 *
 * @example
 * ```ts
 * ops.push({ op: 'setData', path: dir, data: encodeDeparture({ broken: tokens }), version: -1 });
 * ```
 */
export function encodeDeparture(departure: Departure): Buffer {
  return Buffer.from(JSON.stringify(departure));
}

/**
 * Whether the lock node's data says the last break displaced the claim with `token`.
 *
 * @example
 * ```ts
 * if (departureOf(dirData, token) === 'broken') return 'broken';
 * ```
 */
export function departureOf(data: Buffer | undefined, token: bigint): 'broken' | undefined {
  const parsed = jsonObject(data) as Departure;
  return Array.isArray(parsed.broken) && parsed.broken.includes(token.toString()) ? 'broken' : undefined;
}

/**
 * The data of `broken/<name>`.
 *
 * @example
 * ```ts
 * ops.push({ op: 'create', path: paths.broken(name), data: encodeBreak(record, displaced) });
 * ```
 */
export function encodeBreak(record: BreakRecord, displaced: readonly LockInfo[]): Buffer {
  return Buffer.from(breakToJson(record, displaced));
}

/**
 * Read a break record; `undefined` when absent or unreadable.
 *
 * @example
 * ```ts
 * const record = decodeBreak((await client.getData(paths.broken(name))).data);
 * ```
 */
export function decodeBreak(data: Buffer | undefined): BreakRecord | undefined {
  return breakFromJson(data?.toString('utf8'));
}
