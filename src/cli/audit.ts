/**
 * Reading a lock directory's audit log (src/file/audit-log.ts writes it) for
 * `ls` and `show`. What is read back is untrusted: anyone who can write the
 * directory can forge lines.
 *
 * @module
 */
import type { DirectoryHandle } from '../file/directory-handle.js';
import { AUDIT_FILE } from '../file/lock-name.js';
import type { BreakAuditRecord } from '../file/audit-log.js';

export { openAudit, type BreakAuditRecord } from '../file/audit-log.js';

/** How much of the end of the log `readAudit` looks at. */
const TAIL_BYTES = 256 * 1024;

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
