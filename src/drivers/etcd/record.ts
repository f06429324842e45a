/**
 * The holder record the driver stores in a claim key's value: who, since
 * when, and a recipe's data. JSON, so that `etcdctl get` shows it. Informative
 * only: nothing reads it to decide who holds a lock. Break records are the
 * shared JSON form (src/distributed/break-record.ts).
 *
 * Wire compatibility: a plain lock's record is exactly what older versions
 * wrote (`data` is added only when a recipe gives some), and older versions
 * read a record with `data` as a plain one (they ignore fields they do not know).
 *
 * @internal
 * @module
 */
import type { LockOwner } from '../../contracts/fenced-guard.js';
import { dataFrom, jsonObject, ownerFrom } from '../../core/owner-record.js';

/** The value of a claim key. */
export interface HolderRecord extends LockOwner {
  /** ISO time of the claim, updated to the grant time once granted after a wait. */
  since: string;
  /** The recipe's data (ClaimRequest.data); absent for a plain lock. */
  data?: string;
}

/**
 * The value of a claim key, as bytes; `data` only when given (a plain lock's
 * record stays byte for byte what it always was).
 *
 * @example
 * ```ts
 * encodeHolder({ id: 'a1', host: 'web-1', pid: 42 }, new Date());
 * encodeHolder(owner, new Date(), 'leader at 10.0.0.7'); // {…,"since":"…","data":"leader at 10.0.0.7"}
 * ```
 */
export function encodeHolder(owner: LockOwner, since: Date, data?: string): Buffer {
  const record: HolderRecord = { id: owner.id, host: owner.host, pid: owner.pid, since: since.toISOString() };
  if (owner.command !== undefined) record.command = owner.command;
  if (data !== undefined) record.data = data;
  return Buffer.from(JSON.stringify(record));
}

/**
 * Read a holder record; a value not written by deadbolt gives placeholders,
 * never an error, and `data` only when it is a string that fits (dataFrom).
 *
 * @example
 * ```ts
 * decodeHolder(Buffer.from('junk')); // { owner: { id: '?', host: '?', pid: 0 }, since: new Date(0) }
 * decodeHolder(Buffer.from('{"data":42}')).data; // undefined
 * ```
 */
export function decodeHolder(value: Buffer | undefined): { owner: LockOwner; since: Date; data?: string } {
  const parsed = jsonObject(value);
  const since = new Date(typeof parsed.since === 'string' ? parsed.since : 0);
  const holder: { owner: LockOwner; since: Date; data?: string } = { owner: ownerFrom(parsed), since: Number.isNaN(since.getTime()) ? new Date(0) : since };
  const data = dataFrom(parsed.data);
  if (data !== undefined) holder.data = data;
  return holder;
}
