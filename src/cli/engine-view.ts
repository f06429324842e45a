/**
 * What `ls` and `show` say about a lock on an engine, built from the
 * Coordinator's `survey()` (or `list()` where the engine cannot tell who waits). This is also the
 * `--json` shape (docs/cli.md): tokens as decimal strings, times as ISO 8601,
 * durations in ms, and `null` for what the engine does not tell (never 0).
 *
 * Everything here comes from the engine and is untrusted: any client of the
 * engine can write holder records and break records. Printing escapes it.
 *
 * @module
 */
import type { Coordinator } from '../distributed/coordinator.js';
import type { BreakRecord, LockSurvey, WaiterInfo } from '../distributed/driver.js';
import { mergeSurvey } from '../distributed/survey.js';
import type { LockInfo } from '../contracts/fenced-guard.js';
import { isoTime } from './format.js';
import { recipeKindOf, type RecipeKind } from '../recipes/names.js';

/**
 * Whether a holder's session still renews its lease, as far as the listing
 * shows: `renewing` (more than two thirds of its TTL left: it renewed within
 * the last keepalive period, every TTL/3), `late` (it missed a renewal: paused,
 * partitioned or overloaded), `expired` (no time left), `unknown` (the engine
 * gives no TTL or no expiry: Redis).
 *
 * @example
 * ```ts
 * const state: SessionState = 'late';
 * ```
 */
export type SessionState = 'renewing' | 'late' | 'expired' | 'unknown';

/**
 * One holder of an engine lock.
 *
 * @example
 * ```ts
 * const h: EngineHolderView = { id: 'a1', host: 'web-1', pid: 42, command: 'node job.js', mode: 'exclusive', token: '17', since: '2025-01-01T00:00:00.000Z', heldMs: 1200, expiresAt: '2025-01-01T00:00:15.000Z', leaseLeftMs: 13800, ttlMs: 15000, session: 'renewing', data: null };
 * ```
 */
export interface EngineHolderView {
  id: string;
  host: string;
  pid: number;
  command: string;
  mode: 'exclusive' | 'shared';
  token: string;
  since: string;
  heldMs: number;
  /** When its lease runs out unless renewed; null when the engine does not say. */
  expiresAt: string | null;
  leaseLeftMs: number | null;
  /** The TTL its lease was granted with; null when the engine does not say (Redis). */
  ttlMs: number | null;
  session: SessionState;
  /** The recipe data stored with the claim (a leader's value, a member's metadata); null for a plain lock. */
  data: string | null;
}

/**
 * A waiting claim, in queue order.
 *
 * @example
 * ```ts
 * const w: WaiterView = { id: 'b2', host: 'web-2', pid: 77, command: 'deadbolt run jobs -- ./job', mode: 'exclusive', since: null, waitedMs: null };
 * ```
 */
export interface WaiterView {
  id: string;
  host: string;
  pid: number;
  command: string;
  mode: 'exclusive' | 'shared';
  /** When it started waiting; null when the engine does not keep it (Redis). */
  since: string | null;
  waitedMs: number | null;
}

/**
 * A break record as the engine keeps it.
 *
 * @example
 * ```ts
 * const b: BreakView = { at: '2025-01-01T00:00:00.000Z', by: 'alice@ops-1', reason: 'stuck', displaced: [{ host: 'web-1', pid: 42, token: '17' }] };
 * ```
 */
export interface BreakView {
  at: string;
  by: string;
  reason: string;
  displaced: Array<{ id: string; host: string; pid: number; command: string; token: string }>;
}

/**
 * One lock on an engine.
 *
 * @example
 * ```ts
 * for (const lock of view.locks) if (lock.waiters !== null && lock.waiters > 0) console.log(lock.name);
 * ```
 */
export interface EngineLockView {
  name: string;
  /** What the name is: a plain lock, or the lock of an election, a group or a semaphore (src/recipes/names.ts). */
  kind: 'lock' | RecipeKind;
  /** `free`: nobody holds it (listed for its waiters or its break record). */
  state: 'free' | 'shared' | 'exclusive';
  /** The first holder (the only one when exclusive); null when free. */
  holder: EngineHolderView | null;
  holders: EngineHolderView[];
  /** Number of waiting claims; null when the engine cannot tell. */
  waiters: number | null;
  /** The kept break record; null when none (or the engine keeps none). */
  lastBreak: BreakView | null;
}

/**
 * What the engine tells of every name starting with `prefix`: its survey
 * (holders, waiters, break record, in bulk), or, where the engine cannot tell
 * who waits, its holders only (`waitersKnown: false`).
 *
 * @example
 * ```ts
 * const { entries, waitersKnown } = await readSurvey(coordinator);
 * ```
 */
export async function readSurvey(coordinator: Coordinator, prefix?: string): Promise<{ entries: LockSurvey[]; waitersKnown: boolean }> {
  const survey = await coordinator.survey(prefix);
  if (survey !== undefined) return { entries: survey, waitersKnown: true };
  return { entries: mergeSurvey(await coordinator.list(prefix), []), waitersKnown: false };
}

/**
 * The view of one surveyed lock.
 *
 * @example
 * ```ts
 * const views = entries.map((entry) => engineLock(entry, true, Date.now()));
 * ```
 */
export function engineLock(entry: LockSurvey, waitersKnown: boolean, now: number): EngineLockView {
  const holders = [...entry.holders].sort((a, b) => (a.token < b.token ? -1 : a.token > b.token ? 1 : 0)).map((info) => holderView(info, now));
  const state = holders.length === 0 ? 'free' : holders.some((h) => h.mode === 'exclusive') ? 'exclusive' : 'shared';
  return {
    name: entry.name,
    kind: recipeKindOf(entry.name) ?? 'lock',
    state,
    holder: holders[0] ?? null,
    holders,
    waiters: waitersKnown ? entry.waiters.length : null,
    lastBreak: entry.lastBreak === undefined ? null : breakView(entry.lastBreak),
  };
}

/**
 * The waiters of a queue, in order.
 *
 * @example
 * ```ts
 * waiterViews(queue?.waiters ?? [], Date.now());
 * ```
 */
export function waiterViews(waiters: readonly WaiterInfo[], now: number): WaiterView[] {
  return waiters.map((w) => ({
    id: w.owner.id,
    host: w.owner.host,
    pid: w.owner.pid,
    command: w.owner.command ?? '',
    mode: w.mode,
    since: w.since === undefined ? null : isoTime(w.since),
    waitedMs: w.since === undefined ? null : Math.max(0, now - w.since.getTime()),
  }));
}

function holderView(info: LockInfo, now: number): EngineHolderView {
  const left = info.expiresAt === undefined ? null : Math.max(0, info.expiresAt.getTime() - now);
  return {
    id: info.owner.id,
    host: info.owner.host,
    pid: info.owner.pid,
    command: info.owner.command ?? '',
    mode: info.mode,
    token: info.token.toString(),
    since: isoTime(info.since),
    heldMs: Math.max(0, now - info.since.getTime()),
    expiresAt: info.expiresAt === undefined ? null : isoTime(info.expiresAt),
    leaseLeftMs: left,
    ttlMs: info.ttlMs ?? null,
    session: sessionState(left, info.ttlMs),
    data: info.data ?? null,
  };
}

/**
 * The session state a lease's time left shows (see {@link SessionState}).
 * etcd reports whole seconds, hence the one-second allowance.
 *
 * @example
 * ```ts
 * sessionState(4_000, 15_000); // 'late'
 * ```
 */
export function sessionState(leftMs: number | null, ttlMs: number | undefined): SessionState {
  if (leftMs === null) return 'unknown';
  if (leftMs <= 0) return 'expired';
  if (ttlMs === undefined) return 'unknown';
  return leftMs + 1_000 >= (ttlMs * 2) / 3 ? 'renewing' : 'late';
}

function breakView(record: BreakRecord): BreakView {
  return {
    at: isoTime(record.at),
    by: record.by,
    reason: record.reason,
    // A break record is anyone's to write: a displaced entry may lack an owner.
    displaced: (record.displaced ?? []).map((d) => ({
      id: String(d.owner?.id ?? '?'),
      host: String(d.owner?.host ?? '?'),
      pid: Number(d.owner?.pid ?? 0),
      command: String(d.owner?.command ?? ''),
      token: String(d.token),
    })),
  };
}
