/**
 * The values the driver stores, as text a person can read with `redis-cli`:
 * holder records (`token|session|claim|since|owner JSON`), tombstones and
 * predecessor reports (`released|token`, `expired|token`, `broken|token|break
 * record JSON`) and break records. Records are informative: only the token, session and claim
 * fields decide anything (in the scripts).
 *
 * @internal
 * @module
 */
import type { PredecessorReport } from '../../distributed/driver.js';
import { breakFromJson } from '../../distributed/break-record.js';
import type { LockOwner } from '../../contracts/lock-info.js';
import { jsonObject, ownerFrom } from '../../core/owner-record.js';

/**
 * A holder record, decoded.
 *
 * @example
 * ```ts
 * const { token, owner } = decodeRecord(text);
 * ```
 */
export interface HolderRecord {
  token: bigint;
  sessionId: string;
  claim: string;
  since: Date;
  owner: LockOwner;
}

/**
 * The owner part of a holder record, as the scripts store it.
 *
 * @example
 * ```ts
 * encodeOwner({ id: 'a1', host: 'web-1', pid: 42 }); // '{"id":"a1","host":"web-1","pid":42}'
 * ```
 */
export function encodeOwner(owner: LockOwner): string {
  let text = encoded.get(owner);
  if (text === undefined) {
    const stored: LockOwner = { id: owner.id, host: owner.host, pid: owner.pid };
    if (owner.command !== undefined) stored.command = owner.command;
    encoded.set(owner, (text = JSON.stringify(stored)));
  }
  return text;
}

/** A coordinator's owner is one frozen object, sent with every claim: encoded once. */
const encoded = new WeakMap<LockOwner, string>();

/**
 * Read a holder record; fields not written by deadbolt give placeholders, never an error.
 *
 * @example
 * ```ts
 * decodeRecord('17|ab12|3|1700000000000|{"id":"a1","host":"h","pid":1}').token; // 17n
 * ```
 */
export function decodeRecord(text: string): HolderRecord {
  const [token = '0', sessionId = '?', claim = '?', since = '0', ...rest] = text.split('|');
  return { token: toBigInt(token), sessionId, claim, since: new Date(Number(since) || 0), owner: ownerFrom(jsonObject(rest.join('|'))) };
}

/**
 * The predecessor report of a tombstone (`''`: nothing to report).
 *
 * @example
 * ```ts
 * decodeLast('released|17'); // { outcome: 'released', token: 17n }
 * ```
 */
export function decodeLast(text: string): PredecessorReport | undefined {
  if (text === '') return undefined;
  const bar = text.indexOf('|');
  const outcome = bar < 0 ? text : text.slice(0, bar);
  const rest = bar < 0 ? '' : text.slice(bar + 1);
  if (outcome === 'broken') {
    const next = rest.indexOf('|');
    const report: PredecessorReport = { outcome: 'broken', token: toBigInt(next < 0 ? rest : rest.slice(0, next)) };
    const record = next < 0 ? undefined : breakFromJson(rest.slice(next + 1));
    if (record !== undefined) report.breakRecord = record;
    return report;
  }
  if (outcome === 'released' || outcome === 'expired') return { outcome, token: toBigInt(rest) };
  return { outcome: 'unknown' };
}

function toBigInt(text: string): bigint {
  return /^\d+$/.test(text) ? BigInt(text) : 0n;
}
