/**
 * `deadbolt ls`: every lock file of a directory in a table (or `--json`), a
 * summary line, and the last breaks from the audit log; on an engine
 * (`--backend etcd://…`), every lock of the namespace (engine-ls.ts).
 * `--watch` redraws the listing in place on a terminal (watch.ts).
 *
 * @module
 */
import { listDirectory } from '../file/list.js';
import { readAudit, type BreakAuditRecord } from './audit.js';
import { formatDuration } from './durations.js';
import { displayCommand, shortDate } from './format.js';
import { lockView, summarize, type LockView } from './lock-view.js';
import type { Colors, Output } from './output.js';
import { escapeText } from './escape.js';
import { styled, table, truncate, type Cell, type Column } from './table.js';
import { engineListing, printEngineListing } from './engine-ls.js';
import { withEngine, type EngineOptions } from './engine-options.js';
import { openLockDirectory, resolveAnyTarget, type FileTarget, type TargetOptions } from './target.js';
import { checkWatchable, watchListing } from './watch.js';

/**
 * Options of `deadbolt ls`.
 *
 * @example
 * ```ts
 * const options: LsOptions = { lockPath: '/run/locks', json: true };
 * ```
 */
export interface LsOptions extends TargetOptions, EngineOptions {
  json?: boolean;
  /** `--watch`: redraw every `interval` ms until interrupted. */
  watch?: boolean;
  interval?: number;
}

/** Breaks shown under the table, and in `--json`. */
const TEXT_BREAKS = 5;
const JSON_BREAKS = 20;

/**
 * List the directory; resolves with the exit code.
 *
 * @example
 * ```ts
 * await listCommand({ lockPath: '/run/locks' }, io);
 * ```
 */
export async function listCommand(options: LsOptions, io: Output): Promise<number> {
  const target = resolveAnyTarget(options);
  if (options.watch) checkWatchable(io, options);
  if (target.kind === 'file') {
    if (!options.watch) return listDirectoryOnce(target, options, io);
    return watchListing(io, options, (out) => listDirectoryOnce(target, options, out));
  }
  return withEngine(target, options, io, async (coordinator) => {
    const once = async (out: Output) => {
      printEngineListing(await engineListing(coordinator, target, options.namespace ?? 'deadbolt'), options.json === true, out);
      return 0;
    };
    return options.watch ? await watchListing(io, options, once) : await once(io);
  });
}

async function listDirectoryOnce(target: FileTarget, options: LsOptions, io: Output): Promise<number> {
  const handle = openLockDirectory(target);
  try {
    const now = Date.now();
    const infos = await listDirectory(handle, target.prefix);
    const locks = infos.map((info) => lockView(info, now)).filter((v): v is LockView => v !== undefined);
    const summary = summarize(locks);
    if (options.json) {
      io.json({ version: 1, directory: target.directory, locks, summary, breaks: readAudit(handle, JSON_BREAKS) });
      return 0;
    }
    if (locks.length > 0) io.out(locksTable(locks, io.color));
    io.out(summaryLine(target.directory, summary, locks.length > 0));
    printBreaks(readAudit(handle, TEXT_BREAKS), io);
    return 0;
  } finally {
    handle.close();
  }
}

function printBreaks(breaks: BreakAuditRecord[], io: Output): void {
  if (breaks.length > 0) io.out(['', io.color.bold('Recent breaks (.deadbolt-audit.log):'), ...breaks.map(breakLine)].join('\n'));
}

const COLUMNS: Column[] = [
  { header: 'NAME' },
  { header: 'STATE' },
  { header: 'PID', align: 'right' },
  { header: 'COMMAND' },
  { header: 'HOST' },
  { header: 'HELD FOR', align: 'right' },
  { header: 'TOKEN', align: 'right' },
  { header: 'AGE', align: 'right' },
];

/**
 * The table: one row per file. A leftover shows its last holder (dimmed); a
 * held file with no record (an oslo.concurrency holder) shows `?`; a file held
 * shared by several shows their number in STATE and the first of them.
 */
function locksTable(locks: LockView[], c: Colors): string {
  const rows = locks.map((lock): Cell[] => {
    const who = lock.holder ?? lock.lastHolder;
    const many = lock.holders.length > 1 ? ` (${lock.holders.length})` : '';
    const state = lock.leftover ? styled('leftover', c.red) : lock.state === 'free' ? styled('free', c.green) : styled(lock.state + many, c.yellow);
    const faint = (text: string): Cell => (lock.holder === null ? styled(text, c.dim) : text);
    const unknownHolder = lock.state !== 'free' && lock.holder === null;
    // Untrusted fields are escaped before they are shortened, so the limits hold for what is shown.
    return [
      truncate(escapeText(lock.name ?? lock.file), 32),
      state,
      who ? faint(String(who.pid)) : unknownHolder ? '?' : '-',
      who ? faint(displayCommand(escapeText(who.command), 40)) : unknownHolder ? '(no holder record)' : '-',
      who ? faint(truncate(escapeText(who.host), 20)) : '-',
      lock.holder ? formatDuration(lock.holder.heldMs) : '-',
      who ? faint(who.token) : '-',
      formatDuration(lock.ageMs),
    ];
  });
  return table(COLUMNS, rows, c.bold);
}

function summaryLine(directory: string, s: ReturnType<typeof summarize>, blankBefore: boolean): string {
  const files = s.files === 1 ? '1 lock file' : `${s.files} lock files`;
  if (s.files === 0) return `no lock files in ${escapeText(directory)}`;
  const leftover = s.leftover > 0 ? ` (${s.leftover} left over by ${s.leftover === 1 ? 'a process that is' : 'processes that are'} gone)` : '';
  const hint = s.unused > 0 ? '\n`deadbolt clean` removes unused files safely, even while services run.' : '';
  return `${blankBefore ? '\n' : ''}${files} in ${escapeText(directory)}: ${s.held} held, ${s.unused} unused${leftover}${hint}`;
}

/**
 * One audit record as a line. Every field of the log is untrusted (anyone who
 * can write the directory can append to it) and is escaped; the reason is
 * quoted as JSON, so a `"` in it cannot end the quotes early.
 *
 * @example
 * ```ts
 * breakLine(record); // '  2025-03-01 12:00:03Z  jobs  pid 4242 (node job.js) token 17, by root@ops-1: "stuck" (SIGTERM, freed)'
 * ```
 */
export function breakLine(r: BreakAuditRecord): string {
  const by = `${r.by.sudoUser ?? r.by.user}@${r.by.host}`;
  const holder = `pid ${r.displaced.pid} (${displayCommand(escapeText(r.displaced.command), 40)}) token ${r.displaced.token}`;
  const line = `  ${shortDate(r.at)}  ${r.lock.name}  ${holder}, by ${by}: ${JSON.stringify(r.reason)} (${r.signals.join('+') || 'no signal'}, ${r.outcome})`;
  return escapeText(line);
}
