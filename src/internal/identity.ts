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

let cached: ProcessIdentity | undefined;

/**
 * This process's identity: a random id made once per process, the host name,
 * the pid and the command line (truncated to keep records small).
 */
export function processIdentity(): ProcessIdentity {
  if (cached === undefined || cached.pid !== process.pid) {
    const command = [process.argv0, ...process.argv.slice(1)].join(' ');
    cached = {
      id: randomUUID(),
      host: hostname(),
      pid: process.pid,
      command: command.length > 512 ? `${command.slice(0, 509)}...` : command,
    };
  }
  return cached;
}
