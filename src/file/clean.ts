/**
 * Cleaning a lock directory while services run.
 *
 * Each candidate file is opened through the directory's descriptor without
 * creating it and without following a symlink, proven by fstat to be a regular
 * file with one link owned by someone the directory trusts, locked exclusively
 * without waiting, re-checked to still be the file at its name, read to prove it
 * is a lock file (empty, or a deadbolt holder record), and only then unlinked,
 * still under the lock, then closed. A file held by anyone is skipped; a file
 * someone is about to lock is safe too: they re-check the inode after their
 * grant and retry on a fresh file (grant.ts). Anything that is not a lock file
 * is skipped with the reason: `clean` never deletes anything else, whoever put
 * it there (docs/security.md).
 *
 * With real oslo.concurrency processes running it is NOT fully safe: oslo does
 * not re-check the inode, so an oslo process that opened a file just before we
 * unlinked it could lock the orphan. Use `olderThan` generously there, or clean
 * while those services are stopped (docs/operations.md).
 *
 * @module
 */
import { channels, publish } from '../diagnostics.js';
import { checkKnownOptions, checkTimeout } from '../internal/validate.js';
import { UnsafeFileError, invalidType } from '../errors.js';
import { addon } from './addon.js';
import type { DirectoryHandle, EntryStat } from './directory-handle.js';
import { MAX_RECORD_BYTES, holdsOnlyRecord, readSharedRecords, removeSharedRecord } from './holder-record.js';
import { isLockFileName, SHARED_RECORDS } from './lock-name.js';
import { pidMayLive, writerMayLive } from './list.js';

/**
 * Options of `LockDirectory.clean()`.
 *
 * @example
 * ```ts
 * await locks.clean({ olderThan: 24 * 3600_000, dryRun: true });
 * ```
 */
export interface CleanOptions {
  /** Only files not modified for this many ms (default 0: every unused file). */
  olderThan?: number;
  /** Report what would be removed, remove nothing. */
  dryRun?: boolean;
}

/**
 * One file `clean()` looked at.
 *
 * @example
 * ```ts
 * const e: CleanEntry = { file: 'jobs', ageMs: 5000, reason: 'held exclusive' };
 * ```
 */
export interface CleanEntry {
  /** The file's name (untrusted: anyone who can write the directory chose it). */
  file: string;
  ageMs: number;
  /** Why it was skipped (absent for removed files). */
  reason?: string;
}

/**
 * What `clean()` did.
 *
 * @example
 * ```ts
 * const { removed, skipped } = await locks.clean();
 * ```
 */
export interface CleanReport {
  directory: string;
  dryRun: boolean;
  removed: CleanEntry[];
  skipped: CleanEntry[];
}

/** `options` of `clean()`, checked (synchronously, like every argument). @internal */
export function checkCleanOptions(options: CleanOptions | undefined = {}): { olderThan: number; dryRun: boolean } {
  if (options === null || typeof options !== 'object') throw invalidType('options', 'an object', options);
  checkKnownOptions(options, 'options', ['olderThan', 'dryRun']);
  return { olderThan: checkTimeout(options.olderThan, 'options.olderThan') ?? 0, dryRun: options.dryRun === true };
}

/** Clean `handle`'s directory (see the module note). @internal */
export async function cleanDirectory(handle: DirectoryHandle, prefix: string | undefined, options: CleanOptions = {}): Promise<CleanReport> {
  const { olderThan, dryRun } = checkCleanOptions(options);
  const report: CleanReport = { directory: handle.path, dryRun, removed: [], skipped: [] };
  for (const file of handle.names().sort()) {
    if (!isLockFileName(file, prefix)) continue;
    const entry = cleanOne(handle, file, olderThan, dryRun);
    if (entry === undefined) continue;
    if (entry.reason === undefined) report.removed.push(entry);
    else report.skipped.push(entry);
  }
  report.removed.push(...cleanSharedRecords(handle, dryRun));
  return report;
}

/**
 * Shared holders' record files whose writer is gone: the lock file is no longer
 * held shared, or the record's process is dead on this host. Removing one never
 * affects a lock; a live holder's record file is never removed.
 */
function cleanSharedRecords(handle: DirectoryHandle, dryRun: boolean): CleanEntry[] {
  const removed: CleanEntry[] = [];
  for (const [file, records] of readSharedRecords(handle)) {
    let heldShared: boolean;
    try {
      heldShared = handle.state(file) === 'shared';
    } catch {
      heldShared = false; // not a lock file we can use: its shared records are stale
    }
    for (const { file: recordFile, record, writerPid } of records) {
      // Only a held-shared file's live writers are kept; a record still being written reads as
      // undefined, and is judged by the writer's pid in its name.
      const live = record !== undefined ? writerMayLive(record) : writerPid === undefined || pidMayLive(writerPid);
      if (heldShared && live) continue;
      if (!dryRun) removeSharedRecord(handle, recordFile);
      removed.push({ file: `${SHARED_RECORDS}/${recordFile}`, ageMs: record ? Date.now() - record.since.getTime() : 0 });
    }
  }
  return removed;
}

/** Why a file whose whole-file lock was refused is in use. */
function busyReason(state: ReturnType<DirectoryHandle['state']>): string {
  if (state === 'shared' || state === 'exclusive') return `held ${state}`;
  return 'a process is waiting for it'; // only the waiting byte is locked (native/ofd.h)
}

/** Why an entry is not even a candidate, from its fstatat alone; `undefined` if it may be a lock file. */
function notACandidate(stats: EntryStat): string | undefined {
  if (stats.kind === 'symlink') return 'a symbolic link (never followed or removed)';
  if (stats.kind !== 'file') return `not a regular file (a ${stats.kind === 'directory' ? 'directory' : 'FIFO, socket or device'})`;
  if (stats.nlink > 1) return `has ${stats.nlink} hard links: possibly somebody else's file, never removed`;
  return undefined;
}

function cleanOne(handle: DirectoryHandle, file: string, olderThan: number, dryRun: boolean): CleanEntry | undefined {
  const stats = handle.stat(file);
  if (stats === undefined) return undefined; // gone already
  const ageMs = Math.max(0, Date.now() - stats.mtimeMs);
  const skip = (reason: string): CleanEntry => ({ file, ageMs, reason });
  const excluded = notACandidate(stats);
  if (excluded !== undefined) return skip(excluded);
  if (ageMs < olderThan) return skip(`modified ${Math.round(ageMs / 1000)} s ago, newer than olderThan`);
  let fd: number | undefined;
  try {
    fd = handle.openFile(file, 'readWrite'); // never creates: a file someone just removed stays removed
  } catch (err) {
    return skip(openRefusal(err));
  }
  if (fd === undefined) return undefined;
  const a = addon();
  try {
    if (!a.tryLock(fd, true)) return skip(busyReason(handle.state(file)));
    if (handle.raw.identity(fd, file) !== 0) return undefined; // replaced under us: the new file is someone else's
    if (!holdsOnlyRecord(a.readFd(fd, MAX_RECORD_BYTES, 0))) return skip('not a lock file: it holds data that is not a deadbolt holder record');
    if (!dryRun) {
      if (!handle.unlink(file)) return undefined;
      publish(channels.fileCleaned, { directory: handle.path, file, ageMs });
    }
    return { file, ageMs };
  } catch (err) {
    const errno = (err as { errno?: string }).errno;
    return skip(errno === 'EACCES' || errno === 'EPERM' ? 'permission denied (directory not writable)' : `cannot remove (${errno ?? (err as Error).message})`);
  } finally {
    a.closeFd(fd);
  }
}

function openRefusal(err: unknown): string {
  if (err instanceof UnsafeFileError) {
    const words: Record<UnsafeFileError['reason'], string> = {
      notRegular: 'not a regular file',
      hardLinked: 'has several hard links: possibly somebody else\'s file, never removed',
      foreignOwner: `owned by a user this directory does not trust (${err.message.match(/uid \d+/)?.[0] ?? 'another uid'}): never removed`,
      worldWritable: 'writable by everyone: not a lock file deadbolt made, never removed',
      notLockFile: 'not a lock file',
      symlink: 'a symbolic link (never followed or removed)',
      untrustedDirectory: 'in a directory others could swap',
    };
    return words[err.reason];
  }
  const errno = (err as { errno?: string }).errno;
  return errno === 'EACCES' || errno === 'EPERM' ? 'permission denied' : `cannot open (${errno ?? (err as Error).message})`;
}
