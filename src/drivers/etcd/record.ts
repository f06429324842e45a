/**
 * What the driver stores in values: the holder record of a claim (who, since
 * when) and the break record of a name. JSON, so that `etcdctl get` shows it.
 * Records are informative: nothing reads them to decide who holds a lock,
 * except the break record, which only names why a lock was lost.
 *
 * @internal
 * @module
 */
import type { LockInfo, LockOwner } from '../../contracts/fenced-guard.js';
import type { BreakRecord } from '../../distributed/driver.js';
import { breakFromJson, breakToJson } from '../../distributed/break-record.js';

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

/** The value of `<namespace>/broken/<name>`. */
export function encodeBreak(record: BreakRecord, displaced: LockInfo[]): Buffer {
  return Buffer.from(breakToJson(record, displaced));
}

/** Read a break record; `undefined` when absent or unreadable. */
export function decodeBreak(value: Buffer | undefined): BreakRecord | undefined {
  return breakFromJson(value?.toString('utf8'));
}

/** Whether a break record displaced the holder with this token. */
export function displacedToken(record: BreakRecord | undefined, token: bigint): boolean {
  return record?.displaced?.some((d) => d.token === token) ?? false;
}
