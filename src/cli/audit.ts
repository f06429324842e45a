/**
 * The audit log of a lock directory: `.deadbolt-audit.log`, one JSON object per
 * line, appended by `deadbolt break` and shown by `ls` and `show`.
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
import { addon } from '../file/addon.js';
import type { DirectoryHandle } from '../file/directory-handle.js';
import { AUDIT_FILE } from '../file/lock-name.js';

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
  /** The signals sent, in order (`SIGTERM`, then `SIGKILL` if the grace period ran out). */
  signals: string[];
  /** `freed`: the displaced holder no longer holds the lock; `still-held`: it does. */
  outcome: 'freed' | 'still-held';
}

/** How much of the end of the log `readAudit` looks at. */
const TAIL_BYTES = 256 * 1024;

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

/**
 * The last `limit` records of the log, oldest first; lines that are not
 * records (hand edits, a torn tail) are skipped. No log: none.
 *
 * @example
 * ```ts
 * for (const r of readAudit('/run/locks', 5)) console.log(r.at, r.lock.name);
 * ```
 */
export function readAudit(handle: DirectoryHandle, limit: number, name?: string): BreakAuditRecord[] {
  const text = readTail(handle);
  const records: BreakAuditRecord[] = [];
  for (const line of text.split('\n')) {
    const record = parseRecord(line);
    if (record !== undefined && (name === undefined || record.lock.name === name)) records.push(record);
  }
  return records.slice(-limit);
}

/** The end of the log; nothing when it is absent or unsafe (a FIFO, a symlink, a hard link) to read. */
function readTail(handle: DirectoryHandle): string {
  let bytes: Buffer | undefined;
  try {
    bytes = handle.read(AUDIT_FILE, TAIL_BYTES, true);
  } catch {
    return '';
  }
  if (bytes === undefined) return '';
  const text = bytes.toString('utf8');
  // Starting mid-file, the first line is probably partial.
  return bytes.length < TAIL_BYTES ? text : text.slice(text.indexOf('\n') + 1);
}

function parseRecord(line: string): BreakAuditRecord | undefined {
  if (line.trim() === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  return isRecord(value) ? value : undefined;
}

/**
 * Whether a parsed line has every field the listings print, of the right type.
 * Anyone who can write the directory can append to the log, so a line that
 * would make `ls` fail (a missing `by`, `signals` that is not a list) is
 * skipped like a torn one.
 */
function isRecord(value: unknown): value is BreakAuditRecord {
  const v = value as Partial<Record<keyof BreakAuditRecord, any>> | null;
  if (v === null || typeof v !== 'object' || v.event !== 'break') return false;
  const strings = (o: unknown, keys: string[]) =>
    o !== null && typeof o === 'object' && keys.every((k) => typeof (o as Record<string, unknown>)[k] === 'string');
  return (
    strings(v, ['at', 'reason', 'outcome']) &&
    strings(v.lock, ['name', 'file']) &&
    strings(v.by, ['user', 'host']) &&
    (v.by.sudoUser === undefined || typeof v.by.sudoUser === 'string') &&
    strings(v.displaced, ['command', 'token']) &&
    typeof v.displaced.pid === 'number' &&
    Array.isArray(v.signals) &&
    v.signals.every((s: unknown) => typeof s === 'string')
  );
}
