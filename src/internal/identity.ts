/**
 * Who this process is, as holder records and lock listings show it:
 * informative only, never used to decide who holds a lock.
 *
 * Why the command is short by default: holder records end up where other
 * users can read them (lock files, crash leftovers, the audit log of a break,
 * engines' holder keys), and command lines carry secrets (`--password=…`,
 * tokens in URLs). So the recorded command is only the program and, for Node,
 * the script — `process.argv0` and `process.argv[1]` — enough to tell one
 * service from another and to check a pid against /proc/PID/cmdline, never an
 * argument. The whole command line is recorded only when asked for
 * (`recordArgs: true`).
 *
 * @internal
 * @module
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';

/**
 * This process as a lock owner.
 *
 * @example
 * ```ts
 * const me: ProcessIdentity = { id: 'a1b2…', host: 'web-1', pid: 4242, command: 'node /srv/app/worker.js' };
 * ```
 * @internal
 */
export interface ProcessIdentity {
  id: string;
  host: string;
  pid: number;
  command: string;
}

/**
 * What to record of this process's command line.
 *
 * @example
 * ```ts
 * const options: IdentityOptions = { recordArgs: true };
 * ```
 * @internal
 */
export interface IdentityOptions {
  /** Record the whole command line, arguments included (default false: program and script only). */
  recordArgs?: boolean;
}

/** Records are kept small: longer commands are cut here and end in `...`. */
const MAX_COMMAND = 512;

/** The two identities of this process (short and full command), made once per process. */
let cached: { pid: number; short: ProcessIdentity; full: ProcessIdentity } | undefined;

/**
 * This process's identity: a random id made once per process, the host name,
 * the pid and the command (program and script by default; the whole command
 * line with `recordArgs`). The same object is returned each time for the same
 * options (holder records cache their encoding per owner object), and both
 * forms share one id.
 *
 * @example
 * ```ts
 * processIdentity().command;                       // 'node /srv/app/worker.js'
 * processIdentity({ recordArgs: true }).command;   // 'node /srv/app/worker.js --password=hunter2'
 * ```
 * @internal
 */
export function processIdentity(options: IdentityOptions = {}): ProcessIdentity {
  if (cached === undefined || cached.pid !== process.pid) {
    // A forked child (same module state, new pid) gets an id of its own.
    const base = { id: randomUUID(), host: hostname(), pid: process.pid };
    cached = {
      pid: process.pid,
      short: { ...base, command: clipCommand(programAndScript()) },
      full: { ...base, command: clipCommand([process.argv0, ...process.argv.slice(1)].join(' ')) },
    };
  }
  return options.recordArgs === true ? cached.full : cached.short;
}

/**
 * `node -e CODE a b` and `node -p …` run no script: their argv[1] is the first
 * argument (`[node, 'a', 'b']`), which must not be recorded.
 */
const EVAL_FLAG = /^(-[ep]{1,2}|--eval|--print)(=|$)/;

/** The program as it was started and, for Node, the script (already an absolute path); no argument. */
function programAndScript(): string {
  const script = process.argv[1];
  const evaluated = process.execArgv.some((arg) => EVAL_FLAG.test(arg));
  return script === undefined || script === '' || evaluated ? process.argv0 : `${process.argv0} ${script}`;
}

/**
 * `command` cut to the record's limit (the cut is marked with `...`, which the
 * CLI's pid-reuse check knows to compare as a prefix).
 *
 * @example
 * ```ts
 * clipCommand('x'.repeat(600)).length; // 512
 * ```
 * @internal
 */
export function clipCommand(command: string): string {
  return command.length > MAX_COMMAND ? `${command.slice(0, MAX_COMMAND - 3)}...` : command;
}
