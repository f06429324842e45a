/**
 * The audit log of a lock directory: `.deadbolt-audit.log`, one JSON object per
 * line, appended by `deadbolt break` and shown by `ls` and `show`.
 *
 * Each record is appended with one write to a file opened `O_APPEND`, so
 * concurrent breaks never interleave within a line. The file name starts with
 * `.deadbolt`, so `list()` and `clean()` never take it for a lock file.
 *
 * @module
 */
import { appendFileSync, closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
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
 * Append a record to the directory's audit log (created 0644 if absent).
 *
 * @example
 * ```ts
 * appendAudit('/run/locks', record);
 * ```
 */
export function appendAudit(directory: string, record: BreakAuditRecord): void {
  appendFileSync(join(directory, AUDIT_FILE), `${JSON.stringify(record)}\n`, { mode: 0o644 });
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
export function readAudit(directory: string, limit: number, name?: string): BreakAuditRecord[] {
  const text = readTail(join(directory, AUDIT_FILE));
  const records: BreakAuditRecord[] = [];
  for (const line of text.split('\n')) {
    const record = parseRecord(line);
    if (record !== undefined && (name === undefined || record.lock.name === name)) records.push(record);
  }
  return records.slice(-limit);
}

function readTail(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return '';
  }
  try {
    const size = fstatSync(fd).size;
    const start = Math.max(0, size - TAIL_BYTES);
    const buffer = Buffer.alloc(size - start);
    const read = readSync(fd, buffer, 0, buffer.length, start);
    const text = buffer.toString('utf8', 0, read);
    // Starting mid-file, the first line is probably partial.
    return start === 0 ? text : text.slice(text.indexOf('\n') + 1);
  } finally {
    closeSync(fd);
  }
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
