/**
 * What the server says about a claim, in the two forms it arrives in: a row
 * returned by `acquire`/`poll`, or a NOTIFY payload on the session's channel.
 *
 * Payloads (sent by sql.ts, at most a few dozen bytes):
 * - `g <seq> <token> <since ms> <released|expired|broken|-> <predecessor token|->`:
 *   claim `seq` was granted (the notification is sent only if the granting
 *   transaction commits, so receiving it means the grant happened);
 * - `l <seq> <broken|expired>`: held claim `seq` was deleted by `break` or by a
 *   reaper that found the session's lease expired.
 *
 * @internal
 * @module
 */
import type { BreakRecord, PredecessorReport } from '../../distributed/driver.js';
import type { LockInfo } from '../../contracts/lock-info.js';
import { ownerFrom } from '../../core/owner-record.js';

/**
 * How the previous holder departed, as the server recorded it.
 *
 * @example
 * ```ts
 * const how: DepartedHow = 'expired';
 * ```
 */
export type DepartedHow = 'released' | 'expired' | 'broken';

/**
 * A grant: the token, when, and how the predecessor let go.
 *
 * @example
 * ```ts
 * const grant: Grant = { token: 7n, sinceMs: Date.now(), predToken: 6n, predHow: 'released' };
 * ```
 */
export interface Grant {
  token: bigint;
  /** Grant time, epoch ms on the server's clock. */
  sinceMs: number;
  predToken?: bigint;
  predHow?: DepartedHow;
  /** The break record, when `predHow` is `'broken'` and it was read. */
  breakRecord?: BreakRecord;
}

/**
 * A message on a session's channel.
 *
 * @example
 * ```ts
 * const message = parseMessage(payload);
 * if (message?.kind === 'lost') lock.lost(message.reason);
 * ```
 */
export type SessionMessage =
  | { kind: 'granted'; seq: string; grant: Grant }
  | { kind: 'lost'; seq: string; reason: 'broken' | 'expired' };

/**
 * Parse a NOTIFY payload; `undefined` for anything not ours.
 *
 * @example
 * ```ts
 * parseMessage('g 3 17 1735689600000.5 released 16'); // { kind: 'granted', seq: '3', grant: { token: 17n, … } }
 * ```
 */
export function parseMessage(payload: string): SessionMessage | undefined {
  const parts = payload.split(' ');
  if (parts[0] === 'g' && parts.length === 6 && /^\d+$/.test(parts[1]!) && /^\d+$/.test(parts[2]!)) {
    const grant: Grant = { token: BigInt(parts[2]!), sinceMs: Number(parts[3]) };
    const how = parts[4];
    if (how === 'released' || how === 'expired' || how === 'broken') grant.predHow = how;
    if (/^\d+$/.test(parts[5]!)) grant.predToken = BigInt(parts[5]!);
    return { kind: 'granted', seq: parts[1]!, grant };
  }
  if (parts[0] === 'l' && parts.length === 3 && (parts[2] === 'broken' || parts[2] === 'expired')) {
    return { kind: 'lost', seq: parts[1]!, reason: parts[2] };
  }
  return undefined;
}

/**
 * The columns `acquire` and `poll` return.
 *
 * @example
 * ```ts
 * const row = (await runStatement(pool, statements.poll, values, timeout, 'polling')).rows[0] as GrantRow;
 * ```
 */
export interface GrantRow {
  status: 'granted' | 'waiting' | 'notify' | 'busy' | 'gone' | 'no-session';
  token: string | null;
  since_ms: number | null;
  pred_token: string | null;
  pred_how: string | null;
  wake_in_ms: number | null;
}

/**
 * The grant in an `acquire`/`poll` row whose status is `'granted'`.
 *
 * @example
 * ```ts
 * if (row.status === 'granted') return grantFromRow(row);
 * ```
 */
export function grantFromRow(row: GrantRow): Grant {
  const grant: Grant = { token: BigInt(row.token!), sinceMs: Number(row.since_ms) };
  const how = row.pred_how;
  if (how === 'released' || how === 'expired' || how === 'broken') grant.predHow = how;
  if (row.pred_token !== null) grant.predToken = BigInt(row.pred_token);
  return grant;
}

/**
 * The predecessor report of a grant; `undefined` for a name's first grant.
 *
 * @example
 * ```ts
 * predecessorOf({ token: 2n, sinceMs: 0, predToken: 1n, predHow: 'released' }); // { outcome: 'released', token: 1n }
 * ```
 */
export function predecessorOf(grant: Grant): PredecessorReport | undefined {
  if (grant.predHow === undefined) return undefined;
  const report: PredecessorReport = { outcome: grant.predHow };
  if (grant.predToken !== undefined) report.token = grant.predToken;
  if (grant.predHow === 'broken' && grant.breakRecord !== undefined) report.breakRecord = grant.breakRecord;
  return report;
}

/**
 * The break record as `break()` stored it (jsonb); `undefined` when absent or not ours.
 *
 * @example
 * ```ts
 * const record = decodeBreakRecord(row.broken); // BreakRecord | undefined
 * ```
 */
export function decodeBreakRecord(value: unknown): BreakRecord | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const stored = value as { reason?: unknown; by?: unknown; at?: unknown; displaced?: unknown };
  if (typeof stored.reason !== 'string' || typeof stored.by !== 'string') return undefined;
  const displaced = Array.isArray(stored.displaced) ? stored.displaced.map(decodeDisplaced) : [];
  return { reason: stored.reason, by: stored.by, at: new Date(Number(stored.at)), displaced };
}

function decodeDisplaced(value: unknown): LockInfo {
  const d = (value ?? {}) as { name?: unknown; mode?: unknown; token?: unknown; owner?: unknown; since?: unknown; expiresAt?: unknown };
  const info: LockInfo = {
    name: String(d.name),
    mode: d.mode === 'shared' ? 'shared' : 'exclusive',
    token: BigInt(typeof d.token === 'string' && /^\d+$/.test(d.token) ? d.token : 0),
    owner: ownerFrom(d.owner),
    since: new Date(Number(d.since)),
    backend: 'postgres',
  };
  if (d.expiresAt !== undefined && d.expiresAt !== null) info.expiresAt = new Date(Number(d.expiresAt));
  return info;
}
