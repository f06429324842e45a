/**
 * The values the driver stores, as text a person can read with `redis-cli`:
 * holder records (`token|session|claim|since|owner JSON`), tombstones and
 * predecessor reports (`released|token`, `expired|token`, `broken|token|break
 * record JSON`) and break records. Records are informative: only the token, session and claim
 * fields decide anything (in the scripts).
 *
 * Recipe data (`ClaimRequest.data`) rides in the owner JSON as a `data` field,
 * written only when there is data: a plain lock's record is byte for byte what
 * it always was, and a deadbolt that knows nothing of data still reads the
 * owner of a record that has some (it drops fields it does not know). A sixth
 * `|` field would not do: the owner JSON may itself contain `|`, so older
 * readers take everything after the fourth `|` as the owner.
 *
 * @internal
 * @module
 */
import type { PredecessorReport } from '../../distributed/driver.js';
import { breakFromJson } from '../../distributed/break-record.js';
import type { LockOwner } from '../../contracts/lock-info.js';
import { dataFrom, jsonObject, ownerFrom } from '../../core/owner-record.js';

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
  /** The recipe data stored with the claim, when it is a string that fits (dataFrom). */
  data?: string;
}

/**
 * The owner part of a holder record, as the scripts store it, with the
 * claim's recipe data (`data`) as its last field when there is some.
 *
 * @example
 * ```ts
 * encodeOwner({ id: 'a1', host: 'web-1', pid: 42 }); // '{"id":"a1","host":"web-1","pid":42}'
 * encodeOwner({ id: 'a1', host: 'web-1', pid: 42 }, 'v1'); // '{"id":"a1","host":"web-1","pid":42,"data":"v1"}'
 * ```
 */
export function encodeOwner(owner: LockOwner, data?: string): string {
  let text = encoded.get(owner);
  if (text === undefined) {
    const stored: LockOwner = { id: owner.id, host: owner.host, pid: owner.pid };
    if (owner.command !== undefined) stored.command = owner.command;
    encoded.set(owner, (text = JSON.stringify(stored)));
  }
  // the cached owner text stays the data-free one: data differs per claim (and per update)
  return data === undefined ? text : `${text.slice(0, -1)},"data":${JSON.stringify(data)}}`;
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
  const stored = jsonObject(rest.join('|'));
  const record: HolderRecord = { token: toBigInt(token), sessionId, claim, since: new Date(Number(since) || 0), owner: ownerFrom(stored) };
  const data = dataFrom(stored.data);
  if (data !== undefined) record.data = data;
  return record;
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
