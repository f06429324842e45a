/**
 * One line about who holds a lock, for `run`'s waiting line and its busy and
 * timeout messages: "held by pid 1234 (nova-compute …) for 12 s". Read fresh
 * from the kernel and the holder record each time; informative only. The
 * record's host and command are escaped here (escape.ts), so the line is safe
 * to print as it is.
 *
 * @module
 */
import { hostname } from 'node:os';
import type { DirectoryHandle } from '../file/directory-handle.js';
import { readRecord, readSharedRecords, type HolderRecord } from '../file/holder-record.js';
import { formatDuration } from './durations.js';
import { escapeText } from './escape.js';
import { displayCommand } from './format.js';

/**
 * Who holds lock file `file` of `handle`'s directory, in words.
 *
 * @example
 * ```ts
 * holderSummary(handle, 'jobs', Date.now()); // 'held by pid 1234 (node worker.js) for 12 s'
 * ```
 */
export function holderSummary(handle: DirectoryHandle, file: string, now: number): string {
  let state: ReturnType<DirectoryHandle['state']>;
  try {
    state = handle.state(file);
  } catch {
    return 'held';
  }
  if (state === 'free' || state === 'missing') return 'just released';
  if (state === 'shared') {
    // Shared holders each write a record file of their own (holder-record.ts).
    const records = (readSharedRecords(handle).get(file) ?? []).flatMap((r) => (r.record ? [r.record] : []));
    const first = records[0];
    if (first === undefined) return 'held shared';
    const more = records.length > 1 ? ` and ${records.length - 1} more` : '';
    return `held shared by ${describe(first, now)}${more}`;
  }
  const record = readRecord(handle, file);
  // A record whose mode differs from the kernel's state is an older holder's.
  if (record === undefined || record.mode !== state) return 'held by a process that wrote no holder record (oslo.concurrency or another tool)';
  return `held by ${describe(record, now)}`;
}

function describe(record: HolderRecord, now: number): string {
  const where = record.host === hostname() ? '' : ` on ${escapeText(record.host)}`;
  return `pid ${record.pid}${where} (${displayCommand(escapeText(record.command), 40)}) for ${formatDuration(now - record.since.getTime())}`;
}
