/**
 * What the kernel says about lock files and their holders, beyond the lock
 * state: how many requests are blocked waiting for each file (/proc/locks
 * lists them with "->"), and whether a holder process is stopped (SIGSTOP, a
 * debugger): it still holds its lock but does no work.
 *
 * deadbolt queues the callers of one process in memory and lets one of them
 * wait in the kernel, so a blocked request is one waiting process.
 *
 * @module
 */
import { readFileSync } from 'node:fs';

/**
 * Blocked lock requests per inode, from one read of /proc/locks (empty when it cannot be read).
 *
 * @example
 * ```ts
 * const waiters = blockedRequests();
 * waiters.get(statSync('/run/locks/jobs').ino) ?? 0;
 * ```
 */
export function blockedRequests(): Map<number, number> {
  const counts = new Map<number, number>();
  let text: string;
  try {
    text = readFileSync('/proc/locks', 'latin1');
  } catch {
    return counts;
  }
  for (const line of text.split('\n')) {
    // "12: -> OFDLCK ADVISORY WRITE -1 08:01:56789 0 EOF"
    if (!line.includes('->')) continue;
    const inode = Number(line.trim().split(/\s+/)[6]?.split(':')[2]);
    if (Number.isSafeInteger(inode)) counts.set(inode, (counts.get(inode) ?? 0) + 1);
  }
  return counts;
}

/**
 * Whether process `pid` of this host is stopped (state T or t in /proc/PID/stat).
 *
 * @example
 * ```ts
 * process.kill(pid, 'SIGSTOP'); isStopped(pid); // true (soon)
 * ```
 */
export function isStopped(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name may hold spaces and parentheses: the state follows the last ")".
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'T' || state === 't';
  } catch {
    return false;
  }
}
