/**
 * The audit log of a lock directory: `.deadbolt-audit.log`, one JSON object per
 * line, appended by `deadbolt break` (and by a Web Locks `steal` on a lock
 * directory) and shown by `ls` and `show` (src/cli/audit.ts reads it).
 *
 * Each record is appended with one write to a file opened `O_APPEND`, so
 * concurrent breaks never interleave within a line. The file name starts with
 * `.deadbolt`, so `list()` and `clean()` never take it for a lock file. It is
 * reached through the command's directory descriptor like every other file
 * (never following a symlink, never blocking on a FIFO, refusing a hard link
 * or a file of an untrusted owner), created 0600, and what is read back is
 * untrusted: anyone who can write the directory can forge lines.
 *
 * @module
 */
import { addon } from './addon.js';
import type { DirectoryHandle } from './directory-handle.js';
import { AUDIT_FILE } from './lock-name.js';

/**
 * One `break`, as recorded (schema in docs/cli.md).
 *
 * @example
 * ```ts
 * const r: BreakAuditRecord = JSON.parse(line);
 * console.log(r.lock.name, r.displaced.pid, r.reason);
 * ```
 */
export interface BreakAuditRecord {
  version: 1;
  event: 'break';
  /** When the break finished (ISO 8601). */
  at: string;
  lock: { name: string; file: string };
  /** Who ran `deadbolt break`. */
  by: { user: string; uid: number; sudoUser?: string; host: string; pid: number };
  reason: string;
  /** The holder that was stopped, from its holder record. */
  displaced: { pid: number; host: string; command: string; id: string; mode: 'exclusive' | 'shared'; token: string; since: string };
  /** `web-locks`: a `steal` of a LockManager over this directory (no signals: the holder was displaced in its process). Absent: `deadbolt break`. */
  via?: 'web-locks';
  /** The signals sent, in order (`SIGTERM`, then `SIGKILL` if the grace period ran out). */
  signals: string[];
  /** `freed`: the displaced holder no longer holds the lock; `still-held`: it does. */
  outcome: 'freed' | 'still-held';
}

/**
 * The directory's audit log, opened for appending (created 0600 if absent)
 * before a break acts, so that a log that cannot be written safely stops the
 * break before anyone is signalled, and the record goes to the file that was
 * checked even if the name is swapped meanwhile.
 *
 * @throws UnsafeFileError when something unsafe is at the log's name.
 * @example
 * ```ts
 * const audit = openAudit(handle);
 * audit.append(record);
 * ```
 */
export function openAudit(handle: DirectoryHandle): { append(record: BreakAuditRecord): void; close(): void } {
  const fd = handle.openFile(AUDIT_FILE, 'append', 0o600)!;
  const a = addon();
  let open = true;
  const close = () => {
    if (open) a.closeFd(fd);
    open = false;
  };
  return {
    append(record) {
      try {
        a.writeFd(fd, `${JSON.stringify(record)}\n`);
      } finally {
        close();
      }
    },
    close,
  };
}

