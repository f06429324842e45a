/**
 * Cleaning a lock directory while services run.
 *
 * Each candidate file is opened without creating it, locked exclusively without
 * waiting, re-checked to still be the file at its path, and only then unlinked,
 * still under the lock, then closed. A file held by anyone is skipped; a file
 * someone is about to lock is safe too: they re-check the inode after their
 * grant and retry on a fresh file (file-lock.ts). This is what makes cleaning
 * safe with deadbolt processes running.
 *
 * With real oslo.concurrency processes running it is NOT fully safe: oslo does
 * not re-check the inode, so an oslo process that opened a file just before we
 * unlinked it could lock the orphan. Use `olderThan` generously there, or clean
 * while those services are stopped (docs/operations.md).
 *
 * @module
 */
import { closeSync, constants, lstatSync, openSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { channels, publish } from '../diagnostics.js';
import { checkTimeout } from '../internal/validate.js';
import { ConfigurationError, invalidType } from '../errors.js';
import { readSharedRecords, removeSharedRecord } from './holder-record.js';
import { isBookkeeping, writerMayLive } from './list.js';
import * as native from './native.js';

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

/** Clean `directory` (see the module note). @internal */
export async function cleanDirectory(directory: string, options: CleanOptions = {}): Promise<CleanReport> {
  if (options === null || typeof options !== 'object') throw invalidType('options', 'an object', options);
  const olderThan = checkTimeout(options.olderThan, 'options.olderThan') ?? 0;
  const dryRun = options.dryRun === true;
  const report: CleanReport = { directory, dryRun, removed: [], skipped: [] };
  let entries: string[];
  try {
    entries = await readdir(directory);
  } catch (err) {
    throw new ConfigurationError(`cannot read lock directory ${directory}: ${(err as Error).message}`, { cause: err });
  }
  for (const file of entries.sort()) {
    if (isBookkeeping(file)) continue;
    const entry = cleanOne(directory, file, olderThan, dryRun);
    if (entry === undefined) continue;
    if (entry.reason === undefined) report.removed.push(entry);
    else report.skipped.push(entry);
  }
  report.removed.push(...cleanSharedRecords(directory, dryRun));
  return report;
}

/**
 * Shared holders' record files whose writer is gone: the lock file is no longer
 * held shared, or the record's process is dead on this host. Removing one never
 * affects a lock; a live holder's record file is never removed.
 */
function cleanSharedRecords(directory: string, dryRun: boolean): CleanEntry[] {
  const removed: CleanEntry[] = [];
  for (const [file, records] of readSharedRecords(directory)) {
    const heldShared = native.lockState(join(directory, file)) === 'shared';
    for (const { path, record } of records) {
      // A record still being written reads as undefined: only a held-shared file's live writers are kept.
      if (heldShared && (record === undefined || writerMayLive(record))) continue;
      if (!dryRun) removeSharedRecord(path);
      removed.push({ file: relative(directory, path), ageMs: record ? Date.now() - record.since.getTime() : 0 });
    }
  }
  return removed;
}

/** Why a file whose whole-file lock was refused is in use. */
function busyReason(state: ReturnType<typeof native.lockState>): string {
  if (state === 'shared' || state === 'exclusive') return `held ${state}`;
  return 'a process is waiting for it'; // only the waiting byte is locked (native/ofd.h)
}

function cleanOne(directory: string, file: string, olderThan: number, dryRun: boolean): CleanEntry | undefined {
  const path = join(directory, file);
  let stats;
  try {
    stats = lstatSync(path);
  } catch {
    return undefined; // gone already
  }
  const ageMs = Math.max(0, Date.now() - stats.mtimeMs);
  if (!stats.isFile()) return { file, ageMs, reason: stats.isSymbolicLink() ? 'a symbolic link (never followed or removed)' : 'not a regular file' };
  if (ageMs < olderThan) return { file, ageMs, reason: `modified ${Math.round(ageMs / 1000)} s ago, newer than olderThan` };
  let fd: number;
  try {
    // No O_CREAT: never recreate a file someone just removed.
    fd = openSync(path, constants.O_RDWR | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ENOENT') return undefined;
    return { file, ageMs, reason: code === 'EACCES' || code === 'EPERM' ? 'permission denied' : `cannot open (${code})` };
  }
  try {
    if (!native.tryLock(fd, 'exclusive')) return { file, ageMs, reason: busyReason(native.lockState(path)) };
    if (native.checkIdentity(fd, path) !== 'same') return undefined; // replaced under us: the new file is someone else's
    if (!dryRun) {
      try {
        native.unlinkPath(path);
      } catch (err) {
        const errno = (err as { errno?: string }).errno;
        if (errno === 'ENOENT') return undefined;
        return { file, ageMs, reason: errno === 'EACCES' || errno === 'EPERM' ? 'permission denied (directory not writable)' : `cannot remove (${errno})` };
      }
      publish(channels.fileCleaned, { directory, file, ageMs });
    }
    return { file, ageMs };
  } finally {
    closeSync(fd);
  }
}
