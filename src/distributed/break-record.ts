/**
 * The JSON form of a break record, shared by every driver that stores one in
 * its engine (etcd key, Redis tombstone, ZooKeeper node): tokens and dates as
 * strings, so a record written by one version reads back in another.
 *
 * @internal
 * @module
 */
import type { LockInfo } from '../contracts/fenced-guard.js';
import { lockInfoToJSON, serialisable, type LockInfoJSON } from '../contracts/lock-info-json.js';
import type { BreakRecord } from './driver.js';

/** A break record as stored: tokens as decimal strings (scripts may look for `"token":"<t>"`). */
interface StoredBreak {
  reason: string;
  by: string;
  at: string;
  displaced: LockInfoJSON[];
}

/**
 * The stored text of a break that displaced `displaced`.
 *
 * @example
 * ```ts
 * await client.put(key).value(breakToJson({ reason: 'stuck', by: 'ops@host', at: new Date() }, displaced));
 * ```
 */
export function breakToJson(record: BreakRecord, displaced: readonly LockInfo[]): string {
  const stored: StoredBreak = {
    reason: record.reason,
    by: record.by,
    at: record.at.toISOString(),
    displaced: displaced.map(lockInfoToJSON),
  };
  return JSON.stringify(stored);
}

/**
 * Read a stored break record; `undefined` when absent, foreign or unreadable.
 *
 * @example
 * ```ts
 * breakFromJson(breakToJson(record, displaced))?.reason; // 'stuck'
 * ```
 */
export function breakFromJson(text: string | undefined): BreakRecord | undefined {
  if (text === undefined || text.length === 0) return undefined;
  try {
    const stored = JSON.parse(text) as Partial<StoredBreak>;
    if (typeof stored.reason !== 'string' || typeof stored.by !== 'string' || typeof stored.at !== 'string') return undefined;
    return {
      reason: stored.reason,
      by: stored.by,
      at: new Date(stored.at),
      displaced: (stored.displaced ?? []).map(({ token, since, expiresAt, ...rest }) => {
        const info: LockInfo = { ...rest, token: BigInt(token), since: new Date(since) };
        if (expiresAt !== undefined) info.expiresAt = new Date(expiresAt);
        return serialisable(info);
      }),
    };
  } catch {
    return undefined; // not JSON, or a token that is not an integer
  }
}

/**
 * Whether `record` displaced the holder with `token` (how a lost holder, or
 * the next one, tells "broken" from "released" or "expired").
 *
 * @example
 * ```ts
 * if (displacedToken(record, lock.token)) reason = 'broken';
 * ```
 */
export function displacedToken(record: BreakRecord | undefined, token: bigint): boolean {
  return record?.displaced?.some((d) => d.token === token) ?? false;
}
