/**
 * The holder record the driver stores in a claim key's value: who, and since
 * when. JSON, so that `etcdctl get` shows it. Informative only: nothing reads
 * it to decide who holds a lock. Break records are the shared JSON form
 * (src/distributed/break-record.ts).
 *
 * @internal
 * @module
 */
import type { LockOwner } from '../../contracts/fenced-guard.js';
import { jsonObject, ownerFrom } from '../../core/owner-record.js';

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

/**
 * Read a holder record; a value not written by deadbolt gives placeholders, never an error.
 *
 * @example
 * ```ts
 * decodeHolder(Buffer.from('junk')); // { owner: { id: '?', host: '?', pid: 0 }, since: new Date(0) }
 * ```
 */
export function decodeHolder(value: Buffer | undefined): { owner: LockOwner; since: Date } {
  const parsed = jsonObject(value);
  const since = new Date(typeof parsed.since === 'string' ? parsed.since : 0);
  return { owner: ownerFrom(parsed), since: Number.isNaN(since.getTime()) ? new Date(0) : since };
}
