/**
 * Who this process is, as holder records and lock listings show it:
 * informative only, never used to decide who holds a lock.
 *
 * @internal
 * @module
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';

/** This process as a lock owner. @internal */
export interface ProcessIdentity {
  id: string;
  host: string;
  pid: number;
  command: string;
}

const cached = new Map<boolean, ProcessIdentity>();

/**
 * This process's identity: a random id made once per process, the host name,
 * the pid and the command: by default only the program and (for Node) the
 * script, since arguments may carry secrets and holder records are readable by
 * whoever can read the lock directory; with `recordArgs`, the whole command
 * line (truncated to keep records small).
 */
export function processIdentity(options: { recordArgs?: boolean } = {}): ProcessIdentity {
  const full = options.recordArgs === true;
  let identity = cached.get(full);
  if (identity === undefined || identity.pid !== process.pid) {
    const words = full ? [process.argv0, ...process.argv.slice(1)] : [process.argv0, ...process.argv.slice(1, 2)];
    const command = words.join(' ');
    const other = cached.get(!full);
    identity = {
      id: other?.pid === process.pid ? other.id : randomUUID(),
      host: hostname(),
      pid: process.pid,
      command: command.length > 512 ? `${command.slice(0, 509)}...` : command,
    };
    cached.set(full, identity);
  }
  return identity;
}
