/**
 * What `ls` and `show` say about one lock file: the library's LockFileInfo,
 * plus, for a free file, who held it last and whether that process is gone
 * (a leftover). This is also the `--json` shape (docs/cli.md).
 *
 * Why free files are looked at: on release deadbolt deletes its lock file, so a
 * free file is either one kept on purpose (oslo.concurrency naming with
 * `cleanup: 'never'`, or an oslo process's file), one being created right now,
 * or one whose holder died (the kernel released the lock, nobody deleted the
 * file). The holder record left in it tells the last case apart.
 *
 * @module
 */
import type { LockFileInfo } from '../file/list.js';
import { isoTime } from './format.js';
import { checkHolderProcess, type HolderProcess } from './holder-process.js';

/**
 * A holder as shown: tokens as decimal strings (JSON has no bigint), times as ISO 8601.
 *
 * @example
 * ```ts
 * const h: HolderView = { pid: 42, host: 'web-1', command: 'node job.js', id: 'a1…', mode: 'exclusive', token: '7', since: '2025-01-01T00:00:00.000Z', heldMs: 1200, process: 'running' };
 * ```
 */
export interface HolderView {
  pid: number;
  host: string;
  command: string;
  id: string;
  mode: 'exclusive' | 'shared';
  token: string;
  since: string;
  /** How long it has held the lock (for a last holder: since when it had it). */
  heldMs: number;
  /** What the pid is now: `running` (the holder itself), `gone`, `reused`, `remote` (other host), `unknown`. */
  process: HolderProcess['status'];
}

/**
 * One lock file as shown by `ls` and `show`.
 *
 * @example
 * ```ts
 * for (const lock of view.locks) if (lock.leftover) console.log(lock.file);
 * ```
 */
export interface LockView {
  /** The lock name (from the holder record, or decoded from the file name); null when neither tells. */
  name: string | null;
  file: string;
  path: string;
  /** From the kernel, right now. */
  state: 'free' | 'shared' | 'exclusive';
  /** Free, and its last holder's process is gone (or its pid reused): left behind by a crash. */
  leftover: boolean;
  /** The current holder, from its record (null when free, or held by a process that writes none, e.g. oslo); the first when shared. */
  holder: HolderView | null;
  /** Every current holder with a record: one when exclusive, each shared holder when shared. */
  holders: HolderView[];
  /** For a free file with a record: who held it last. */
  lastHolder: HolderView | null;
  /** The file's modification time: the last grant that wrote a record, or its creation. */
  modifiedAt: string;
  ageMs: number;
}

/**
 * The view of one listed file, or undefined when it vanished while listing.
 *
 * @example
 * ```ts
 * const views = (await locks.list()).map((i) => lockView(i, Date.now())).filter((v) => v !== undefined);
 * ```
 */
export function lockView(info: LockFileInfo, now: number): LockView | undefined {
  if (info.state === 'missing') return undefined;
  const holders = info.holders.map(({ owner, token, mode, since }) => holderView({ ...owner, command: owner.command ?? '', token, mode, since }, now));
  const last = info.lastHolder;
  const lastHolder = info.state === 'free' && last !== undefined ? holderView({ ...last.owner, command: last.owner.command ?? '', token: last.token, mode: last.mode, since: last.since }, now) : null;
  return {
    name: info.name ?? null,
    file: info.file,
    path: info.path,
    state: info.state,
    leftover: lastHolder !== null && (lastHolder.process === 'gone' || lastHolder.process === 'reused'),
    holder: holders[0] ?? null,
    holders,
    lastHolder,
    modifiedAt: info.modifiedAt.toISOString(),
    ageMs: Math.round(info.ageMs),
  };
}

function holderView(
  r: { pid: number; host: string; command: string; id: string; mode: 'exclusive' | 'shared'; token: bigint; since: Date },
  now: number,
): HolderView {
  return {
    pid: r.pid,
    host: r.host,
    command: r.command,
    id: r.id,
    mode: r.mode,
    token: r.token.toString(),
    since: isoTime(r.since),
    heldMs: Math.max(0, now - r.since.getTime()),
    process: checkHolderProcess(r, r.since).status,
  };
}

/**
 * Counts for the summary line.
 *
 * @example
 * ```ts
 * summarize(views); // { files: 3, held: 1, unused: 2, leftover: 1 }
 * ```
 */
export function summarize(views: LockView[]): { files: number; held: number; unused: number; leftover: number } {
  const held = views.filter((v) => v.state !== 'free').length;
  return { files: views.length, held, unused: views.length - held, leftover: views.filter((v) => v.leftover).length };
}
