/**
 * `deadbolt ls --backend etcd://…` (and every other engine): every lock of the
 * namespace with its holders, lease, waiters and last break, in a table (or
 * `--json`). One `survey()` per listing, whatever the number of locks (each
 * driver reads in bulk: bench/ls.mjs measures it).
 *
 * @module
 */
import type { Coordinator } from '../distributed/coordinator.js';
import { redact } from '../distributed/connect-url.js';
import { formatDuration } from './durations.js';
import { escapeText } from './escape.js';
import { engineLock, readSurvey, type BreakView, type EngineLockView, type SessionState } from './engine-view.js';
import { displayCommand, shortDate } from './format.js';
import type { Colors, Output } from './output.js';
import { styled, table, truncate, type Cell, type Column } from './table.js';
import type { EngineTarget } from './target.js';

/** Breaks shown under the table, and in `--json`. */
const TEXT_BREAKS = 5;
const JSON_BREAKS = 20;

/**
 * The whole listing, as `--json` prints it (docs/cli.md).
 *
 * @example
 * ```ts
 * const listing = await engineListing(coordinator, target, 'deadbolt');
 * console.log(listing.summary.held);
 * ```
 */
export interface EngineListing {
  version: 1;
  /** The backend URL, password hidden. */
  backend: string;
  namespace: string;
  locks: EngineLockView[];
  summary: { locks: number; held: number; waiting: number | null };
  /** The kept break records, newest last. */
  breaks: Array<BreakView & { name: string }>;
}

/**
 * Read the listing of `coordinator`'s namespace.
 *
 * @example
 * ```ts
 * const listing = await engineListing(coordinator, { kind: 'engine', url, from: '--backend' }, 'billing');
 * ```
 */
export async function engineListing(coordinator: Coordinator, target: EngineTarget, namespace: string): Promise<EngineListing> {
  const { entries, waitersKnown } = await readSurvey(coordinator);
  const now = Date.now();
  const locks = entries.map((entry) => engineLock(entry, waitersKnown, now));
  const breaks = locks
    .filter((lock) => lock.lastBreak !== null)
    .map((lock) => ({ name: lock.name, ...lock.lastBreak! }))
    .sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  return {
    version: 1,
    backend: redact(target.url),
    namespace,
    locks,
    summary: {
      locks: locks.length,
      held: locks.filter((l) => l.state !== 'free').length,
      waiting: waitersKnown ? locks.reduce((n, l) => n + (l.waiters ?? 0), 0) : null,
    },
    breaks: breaks.slice(-JSON_BREAKS),
  };
}

/**
 * Print a listing as text (or JSON).
 *
 * @example
 * ```ts
 * printEngineListing(listing, false, io);
 * ```
 */
export function printEngineListing(listing: EngineListing, json: boolean, io: Output): void {
  if (json) {
    io.json(listing);
    return;
  }
  const { locks, summary } = listing;
  if (locks.length > 0) io.out(locksTable(locks, io.color));
  const where = `${escapeText(listing.backend)} (namespace ${escapeText(listing.namespace)})`;
  if (locks.length === 0) io.out(`no locks on ${where}`);
  else {
    const waiting = summary.waiting === null ? 'waiters unknown' : `${summary.waiting} waiting`;
    io.out(`\n${summary.locks === 1 ? '1 lock' : `${summary.locks} locks`} on ${where}: ${summary.held} held, ${waiting}`);
  }
  const breaks = listing.breaks.slice(-TEXT_BREAKS);
  if (breaks.length > 0) io.out(['', io.color.bold('Recent breaks (kept by the engine):'), ...breaks.map((b) => engineBreakLine(b.name, b))].join('\n'));
}

const COLUMNS: Column[] = [
  { header: 'NAME' },
  { header: 'STATE' },
  { header: 'HOST' },
  { header: 'PID', align: 'right' },
  { header: 'COMMAND' },
  { header: 'HELD FOR', align: 'right' },
  { header: 'LEASE LEFT', align: 'right' },
  { header: 'TOKEN', align: 'right' },
  { header: 'WAITERS', align: 'right' },
  { header: 'LAST BREAK' },
];

/** One row per lock; a lock held shared by several shows their number in STATE and the first of them. */
function locksTable(locks: EngineLockView[], c: Colors): string {
  const rows = locks.map((lock): Cell[] => {
    const h = lock.holder;
    const many = lock.holders.length > 1 ? ` (${lock.holders.length})` : '';
    const state = lock.state === 'free' ? styled('free', c.green) : styled(lock.state + many, c.yellow);
    // Untrusted fields are escaped before they are shortened, so the limits hold for what is shown.
    return [
      truncate(escapeText(lock.name), 32),
      state,
      h ? truncate(escapeText(h.host), 20) : '-',
      h ? String(h.pid) : '-',
      h ? displayCommand(escapeText(h.command), 32) : '-',
      h ? formatDuration(h.heldMs) : '-',
      h ? leaseCell(h.leaseLeftMs, h.session, c) : '-',
      h ? h.token : '-',
      lock.waiters === null ? 'unknown' : String(lock.waiters),
      lock.lastBreak === null ? '-' : shortDate(lock.lastBreak.at),
    ];
  });
  return table(COLUMNS, rows, c.bold);
}

/** Time left on a lease; red when the session missed a renewal. */
export function leaseCell(leftMs: number | null, session: SessionState, c: Colors): Cell {
  if (leftMs === null) return 'unknown';
  const text = formatDuration(leftMs);
  return session === 'late' || session === 'expired' ? styled(`${text} (${session})`, c.red) : text;
}

/**
 * A kept break record as one line. Every field is from the engine, anyone's
 * to write, so the line is escaped whole; the reason is quoted as JSON.
 *
 * @example
 * ```ts
 * engineBreakLine('jobs', view); // '  2025-03-01 12:00:03Z  jobs  token 17 (web-1 pid 42), by alice@ops-1: "stuck"'
 * ```
 */
export function engineBreakLine(name: string, b: BreakView): string {
  const who = b.displaced.map((d) => `token ${d.token} (${d.host} pid ${d.pid})`).join(', ') || 'nobody';
  return escapeText(`  ${shortDate(b.at)}  ${name}  ${who}, by ${b.by}: ${JSON.stringify(b.reason)}`);
}
