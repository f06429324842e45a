/**
 * What the driver stores in values: the holder record of a claim (who, since
 * when) and the break record of a name. JSON, so that `etcdctl get` shows it.
 * Records are informative: nothing reads them to decide who holds a lock,
 * except the break record, which only names why a lock was lost.
 *
 * @internal
 * @module
 */
import type { LockInfo, LockOwner } from '../../local/fenced-guard.js';
import type { BreakRecord } from '../../distributed/driver.js';

/** The value of a claim key. */
export interface HolderRecord extends LockOwner {
  /** ISO time of the claim, updated to the grant time once granted after a wait. */
  since: string;
}

/**
 * The value of a claim key, as bytes.
 *
 * @example
 * ```ts
 * encodeHolder({ id: 'a1', host: 'web-1', pid: 42 }, new Date());
 * ```
 */
export function encodeHolder(owner: LockOwner, since: Date): Buffer {
  const record: HolderRecord = { id: owner.id, host: owner.host, pid: owner.pid, since: since.toISOString() };
  if (owner.command !== undefined) record.command = owner.command;
  return Buffer.from(JSON.stringify(record));
}

/** Read a holder record; a value not written by deadbolt gives placeholders, never an error. */
export function decodeHolder(value: Buffer | undefined): { owner: LockOwner; since: Date } {
  let parsed: Partial<HolderRecord> = {};
  try {
    parsed = JSON.parse(value?.toString('utf8') ?? '') as Partial<HolderRecord>;
  } catch {
    // not ours: show what we can
  }
  const owner: LockOwner = {
    id: typeof parsed.id === 'string' ? parsed.id : '?',
    host: typeof parsed.host === 'string' ? parsed.host : '?',
    pid: typeof parsed.pid === 'number' ? parsed.pid : 0,
  };
  if (typeof parsed.command === 'string') owner.command = parsed.command;
  const since = new Date(typeof parsed.since === 'string' ? parsed.since : 0);
  return { owner, since: Number.isNaN(since.getTime()) ? new Date(0) : since };
}

/** A break record as stored: the displaced holders' tokens are decimal strings. */
interface StoredBreak {
  reason: string;
  by: string;
  at: string;
  displaced: Array<Omit<LockInfo, 'token' | 'since' | 'expiresAt'> & { token: string; since: string; expiresAt?: string }>;
}

/** The value of `<namespace>/broken/<name>`. */
export function encodeBreak(record: BreakRecord, displaced: LockInfo[]): Buffer {
  const stored: StoredBreak = {
    reason: record.reason,
    by: record.by,
    at: record.at.toISOString(),
    displaced: displaced.map(({ token, since, expiresAt, ...rest }) => ({
      ...rest,
      token: token.toString(),
      since: since.toISOString(),
      ...(expiresAt !== undefined && { expiresAt: expiresAt.toISOString() }),
    })),
  };
  return Buffer.from(JSON.stringify(stored));
}

/** Read a break record; `undefined` when absent or unreadable. */
export function decodeBreak(value: Buffer | undefined): BreakRecord | undefined {
  if (value === undefined || value.length === 0) return undefined;
  try {
    const stored = JSON.parse(value.toString('utf8')) as StoredBreak;
    return {
      reason: String(stored.reason),
      by: String(stored.by),
      at: new Date(stored.at),
      displaced: (stored.displaced ?? []).map((d) => {
        const info: LockInfo = { ...d, token: BigInt(d.token), since: new Date(d.since), expiresAt: undefined };
        if (d.expiresAt !== undefined) info.expiresAt = new Date(d.expiresAt);
        else delete info.expiresAt;
        return info;
      }),
    };
  } catch {
    return undefined;
  }
}

/** Whether a break record displaced the holder with this token. */
export function displacedToken(record: BreakRecord | undefined, token: bigint): boolean {
  return record?.displaced?.some((d) => d.token === token) ?? false;
}
