/**
 * One line about who holds a lock, for `run`'s waiting line and its busy and
 * timeout messages: "held by pid 1234 (nova-compute …) for 12 s". Read fresh
 * from the kernel and the holder record each time; informative only.
 *
 * @module
 */
import { hostname } from 'node:os';
import { readRecord } from '../file/holder-record.js';
import { lockState } from '../file/native.js';
import { formatDuration } from './durations.js';
import { displayCommand } from './format.js';

/**
 * Who holds the lock file at `path`, in words.
 *
 * @example
 * ```ts
 * holderSummary('/run/locks/jobs', Date.now()); // 'held by pid 1234 (node worker.js) for 12 s'
 * ```
 */
export function holderSummary(path: string, now: number): string {
  let state: ReturnType<typeof lockState>;
  try {
    state = lockState(path);
  } catch {
    return 'held';
  }
  if (state === 'free' || state === 'missing') return 'just released';
  const record = readRecord(path);
  // A record whose mode differs from the kernel's state is an older holder's.
  if (record === undefined || record.mode !== state) {
    return state === 'shared' ? 'held shared' : 'held by a process that wrote no holder record (oslo.concurrency or another tool)';
  }
  const where = record.host === hostname() ? '' : ` on ${record.host}`;
  const mode = state === 'shared' ? ' shared' : '';
  return `held${mode} by pid ${record.pid}${where} (${displayCommand(record.command, 40)}) for ${formatDuration(now - record.since.getTime())}`;
}
