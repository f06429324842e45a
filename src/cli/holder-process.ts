/**
 * Is the process a holder record names still that holder?
 *
 * Holder records are informative (src/file/holder-record.ts): the pid in one
 * may since have exited, and Linux reuses pids, so a record can point at an
 * unrelated process. Before `break` signals anyone, and before `ls` calls a
 * file a leftover, the record is checked against /proc:
 * - the host must be this host (a pid means nothing elsewhere);
 * - the process must exist and not be a zombie (a zombie holds no locks);
 * - it must have started before the record was written (a later start is a
 *   reused pid), from /proc/PID/stat's start time;
 * - its command line (/proc/PID/cmdline) must be the recorded one.
 *
 * None of this proves that the pid holds the lock — a record is anyone's to
 * write. `break` also asks the kernel (holder-proof.ts) before each signal.
 *
 * @module
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, isAbsolute, resolve } from 'node:path';

/**
 * What a record's pid turned out to be.
 *
 * @example
 * ```ts
 * const found: HolderProcess = { status: 'gone', pid: 4242 };
 * ```
 */
export type HolderProcess =
  /** The holder itself: same host, running, started before its record, same command line. */
  | { status: 'running'; pid: number; startTicks: number }
  /** No such process (or a zombie): it has exited. */
  | { status: 'gone'; pid: number }
  /** The pid runs another program now, or started after the record was written. */
  | { status: 'reused'; pid: number; why: string }
  /** The record was written on another host. */
  | { status: 'remote'; pid: number; host: string }
  /** /proc could not tell (permissions, hidepid). */
  | { status: 'unknown'; pid: number; why: string };

/** Linux reports process start times in USER_HZ ticks, 100 on every architecture Node runs on. */
const USER_HZ = 100;
/** /proc/stat's boot time has one-second resolution. */
const START_TOLERANCE_MS = 2000;

/**
 * Check the process a record names.
 *
 * @example
 * ```ts
 * checkHolderProcess({ pid: 4242, host: hostname(), command: 'node worker.js' }, since);
 * ```
 */
export function checkHolderProcess(owner: { pid: number; host: string; command?: string }, since: Date): HolderProcess {
  const { pid } = owner;
  if (owner.host !== hostname()) return { status: 'remote', pid, host: owner.host };
  if (!Number.isInteger(pid) || pid <= 0) return { status: 'unknown', pid, why: `the record's pid ${pid} is not a process id` };
  const stat = readStat(pid);
  if (stat === 'gone') return { status: 'gone', pid };
  if (typeof stat === 'string') return { status: 'unknown', pid, why: stat };
  if (stat.state === 'Z' || stat.state === 'X') return { status: 'gone', pid };
  const started = startTime(stat.startTicks);
  if (started !== undefined && started.getTime() > since.getTime() + START_TOLERANCE_MS) {
    return { status: 'reused', pid, why: `pid ${pid} was started at ${started.toISOString()}, after the record was written (${since.toISOString()})` };
  }
  const argv = readCmdline(pid);
  if (argv === undefined) return { status: 'unknown', pid, why: `cannot read /proc/${pid}/cmdline` };
  if (argv.length === 0) return { status: 'reused', pid, why: `pid ${pid} is a kernel thread` };
  if (owner.command !== undefined && !commandMatches(owner.command, argv, readCwd(pid))) {
    return { status: 'reused', pid, why: `pid ${pid} now runs "${argv.join(' ')}", not the recorded "${owner.command}"` };
  }
  return { status: 'running', pid, startTicks: stat.startTicks };
}

/**
 * Is `pid` still the process whose start time was `startTicks`? Checked right
 * before each signal, so a holder that exited and whose pid was reused in
 * between is never signalled.
 *
 * @example
 * ```ts
 * if (stillSameProcess(found.pid, found.startTicks)) process.kill(found.pid, 'SIGKILL');
 * ```
 */
export function stillSameProcess(pid: number, startTicks: number): boolean {
  const stat = readStat(pid);
  return typeof stat === 'object' && stat.startTicks === startTicks && stat.state !== 'Z' && stat.state !== 'X';
}

/**
 * Whether a recorded command is the process's `argv`. Records have three forms
 * (src/internal/identity.ts):
 * - the short form, the default: the program and, for Node, the script —
 *   `node /srv/app/worker.js` — without any argument;
 * - `deadbolt run NAME -- PROGRAM`, written by `deadbolt run` (its program
 *   without arguments);
 * - the whole command line: `recordArgs`, `run --record-args`, and every record
 *   written by earlier versions.
 *
 * A Node holder records argv[0] as given and its script resolved to an absolute
 * path, not Node's own flags, so the script may sit at any position of the real
 * argv and was written relative to the holder's `cwd`. Records are cut at 512
 * characters ending in `...`, compared as a prefix.
 *
 * @example
 * ```ts
 * commandMatches('node /srv/app/worker.js', ['node', '--max-old-space-size=512', 'worker.js', '--password=x'], '/srv/app'); // true
 * commandMatches('node /srv/app/worker.js -q', ['node', 'worker.js', '-q'], '/srv/app'); // true (a full record)
 * commandMatches('deadbolt run nightly -- ./report.sh', ['node', '/usr/bin/deadbolt', 'run', '--lock-path', '/run/l', 'nightly', '--', './report.sh', '--full'], '/'); // true
 * ```
 */
export function commandMatches(recorded: string, argv: string[], cwd: string | undefined): boolean {
  const truncated = recorded.length >= 512 && recorded.endsWith('...');
  const fits = (candidate: string) => (truncated ? candidate.startsWith(recorded.slice(0, -3)) : candidate === recorded);
  if (fits(argv.join(' ')) || deadboltRunForms(argv).some(fits)) return true;
  const [argv0, ...rest] = argv;
  if (fits(argv0!)) return true; // the short form of a Node process without a script (`node -e …`)
  for (let k = 0; k < rest.length; k++) {
    const script = rest[k]!;
    const tail = rest.slice(k + 1);
    if (cwd !== undefined || isAbsolute(script)) {
      const absolute = resolve(cwd ?? '/', script);
      if (fits([argv0, absolute, ...tail].join(' ')) || fits(`${argv0} ${absolute}`)) return true;
    } else if (!truncated && (relativeScriptFits(recorded, argv0!, script, tail) || relativeScriptFits(recorded, argv0!, script, []))) {
      return true;
    }
  }
  return false;
}

/**
 * The records `deadbolt run` may have written, if `argv` is a `deadbolt run`:
 * `deadbolt run NAME -- PROGRAM` for each word that may be NAME (options may
 * stand before or after it). deadbolt is its script (`…/bin/deadbolt`,
 * `…/cli/main.js`) or, as a single executable, argv[0]; `run` follows it.
 */
function deadboltRunForms(argv: string[]): string[] {
  const self = argv.findIndex((arg) => basename(arg) === 'deadbolt' || /(^|\/)cli\/main\.js$/.test(arg));
  if (self < 0 || argv[self + 1] !== 'run') return [];
  const dash = argv.indexOf('--', self + 2);
  if (dash < 0 || dash + 1 >= argv.length) return [];
  const program = argv[dash + 1];
  return argv.slice(self + 2, dash).map((name) => `deadbolt run ${name} -- ${program}`);
}

/** Without the holder's cwd: the recorded script path must end with the relative one. */
function relativeScriptFits(recorded: string, argv0: string, script: string, tail: string[]): boolean {
  const head = `${argv0} `;
  const end = tail.length === 0 ? '' : ` ${tail.join(' ')}`;
  if (!recorded.startsWith(head) || !recorded.endsWith(end)) return false;
  const middle = recorded.slice(head.length, recorded.length - end.length);
  return isAbsolute(middle) && middle.endsWith(`/${script.replace(/^(\.\/)+/, '')}`);
}

function readStat(pid: number): { state: string; startTicks: number } | 'gone' | string {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch (err) {
    const code = (err as { code?: string }).code;
    return code === 'ENOENT' || code === 'ESRCH' ? 'gone' : `cannot read /proc/${pid}/stat (${code})`;
  }
  // The command name (field 2) is in parentheses and may contain spaces or ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '?', startTicks: Number(fields[19]) };
}

function readCmdline(pid: number): string[] | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const argv = raw.split('\0');
    if (argv.at(-1) === '') argv.pop();
    return argv;
  } catch {
    return undefined;
  }
}

function readCwd(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    return undefined; // another user's process: fall back to matching the script's tail
  }
}

let bootMs: number | undefined;

/** When a process started, from its start time in ticks after boot. */
function startTime(ticks: number): Date | undefined {
  if (!Number.isFinite(ticks)) return undefined;
  if (bootMs === undefined) {
    try {
      const btime = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'latin1'));
      if (btime === null) return undefined;
      bootMs = Number(btime[1]) * 1000;
    } catch {
      return undefined;
    }
  }
  return new Date(bootMs + (ticks * 1000) / USER_HZ);
}
