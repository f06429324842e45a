/**
 * `deadbolt show NAME`: one lock in detail — its file, state, holder (with a
 * check of the holder's process), and the breaks recorded for it; on an
 * engine, engine-show.ts.
 *
 * @module
 */
import { join } from 'node:path';
import { listDirectory } from '../file/list.js';
import { checkLockName, lockFileName } from '../file/lock-name.js';
import { readAudit } from './audit.js';
import { formatDuration } from './durations.js';
import { usageError } from './exit-codes.js';
import { breakLine } from './ls.js';
import { lockView, type HolderView, type LockView } from './lock-view.js';
import type { Colors, Output } from './output.js';
import { alignRows, styled, type Cell } from './table.js';
import { engineLockName, withEngine, type EngineOptions } from './engine-options.js';
import { showEngineLock } from './engine-show.js';
import { openLockDirectory, resolveAnyTarget, type TargetOptions } from './target.js';

/**
 * Options of `deadbolt show`.
 *
 * @example
 * ```ts
 * const options: ShowOptions = { lockPath: '/run/locks', json: false };
 * ```
 */
export interface ShowOptions extends TargetOptions, EngineOptions {
  json?: boolean;
  /** The local audit log of engine breaks (engine-audit.ts). */
  auditLog?: string;
}

/**
 * Show lock `name`; resolves with the exit code (0, also for a free lock).
 *
 * @example
 * ```ts
 * await showCommand('nightly', { lockPath: '/run/locks' }, io);
 * ```
 */
export async function showCommand(name: string, options: ShowOptions, io: Output): Promise<number> {
  const any = resolveAnyTarget(options);
  if (any.kind === 'engine') return withEngine(any, options, io, (c) => showEngineLock(c, any, engineLockName(name), options, io));
  try {
    checkLockName(name);
  } catch (err) {
    throw usageError((err as Error).message);
  }
  const target = any;
  const file = lockFileName(name, target.prefix);
  const handle = openLockDirectory(target);
  let lock: LockView | null;
  let breaks: ReturnType<typeof readAudit>;
  try {
    const info = (await listDirectory(handle, target.prefix)).find((i) => i.file === file);
    lock = info === undefined ? null : (lockView(info, Date.now()) ?? null);
    breaks = readAudit(handle, 20, name);
  } finally {
    handle.close();
  }
  if (options.json) {
    io.json({ version: 1, directory: target.directory, name, file, lock, breaks });
    return 0;
  }
  const rows: Row[] = [
    ['lock', name],
    ['file', join(target.directory, file)],
  ];
  rows.push(...(lock === null ? ([['state', 'free (no lock file)']] as Row[]) : lockRows(lock, io.color)));
  rows.push(['breaks', breaks.length === 0 ? 'none recorded' : '']);
  // alignRows escapes every value: the name, paths and the holder's fields are untrusted.
  io.out(alignRows(rows.map(([k, v]) => [styled(k, io.color.bold), v])));
  if (breaks.length > 0) io.out(breaks.map(breakLine).join('\n'));
  return 0;
}

/** One line of `show`: a label and its value. */
type Row = [string, Cell];

function lockRows(lock: LockView, c: Colors): Row[] {
  const rows: Row[] = [];
  if (lock.holder !== null) {
    const by = lock.holders.length > 1 ? ` by ${lock.holders.length} processes` : '';
    rows.push(['state', styled(`${lock.state}${by}, held for ${formatDuration(lock.holder.heldMs)}`, c.yellow)]);
    lock.holders.forEach((h, i) => rows.push(...holderRows(h, lock.holders.length > 1 ? `holder ${i + 1}` : 'holder')));
  } else if (lock.state !== 'free') {
    rows.push(['state', styled(lock.state, c.yellow)]);
    rows.push(['holder', 'unknown: no holder record (held by oslo.concurrency or another tool that writes none)']);
  } else {
    rows.push(['state', lock.leftover ? styled('free — a leftover of a process that is gone (`deadbolt clean` removes it)', c.red) : styled('free', c.green)]);
    if (lock.lastHolder !== null) rows.push(...holderRows(lock.lastHolder, 'last holder'));
  }
  rows.push(['file age', `${formatDuration(lock.ageMs)} (modified ${lock.modifiedAt})`]);
  return rows;
}

const PROCESS_WORDS: Record<HolderView['process'], string> = {
  running: 'running',
  gone: 'gone (no such process)',
  reused: 'gone (its pid now belongs to another process)',
  remote: 'on another host (not checked)',
  unknown: 'unknown (cannot read /proc)',
};

function holderRows(h: HolderView, label: string): Row[] {
  return [
    [label, `pid ${h.pid} on ${h.host}: ${PROCESS_WORDS[h.process]}`],
    ['command', h.command],
    ['mode', h.mode],
    ['token', h.token],
    ['since', h.since],
    ['owner id', h.id],
  ];
}
