/**
 * Process plumbing for the real-server test harness: spawning a server with its output in a log
 * file, signalling it (optionally with its descendants), telling whether it is alive, temporary
 * directories, and the safety nets that keep a crashed test from leaving servers behind.
 *
 * Rules this file enforces:
 * - A server's stdin is /dev/null and its stdout/stderr go to a log file: an inherited stdout keeps
 *   the caller's pipes open and hangs it.
 * - Only processes this module spawned are ever signalled, and only by PID (plus, for servers that
 *   fork workers such as PostgreSQL, the descendants of such a PID).
 * - "Alive" means present and not a zombie: on some machines PID 1 reaps orphans lazily, so a
 *   process that exited can pass `kill -0` for a second or two. Callers also wait for the
 *   server's ports to close.
 * - Safety nets: a process 'exit' hook SIGKILLs every member still running and removes the
 *   temporary directories; on Linux each server is started through `setpriv --pdeathsig KILL`, so
 *   it also dies when the test process is killed outright (SIGKILL, a runner timeout). The parent
 *   death signal follows the spawning thread: start servers from the main thread.
 *
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EVENT_BOUND_MS } from './bounds.js';

/** How a spawned process ended. */
export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Set when the process could not be spawned at all (e.g. ENOENT). */
  readonly error?: Error;
}

const HAS_PROC = fs.existsSync('/proc/self/stat');

/** Fields of /proc/PID/stat after the command name: [state, ppid, ...]. */
function procStat(pid: number): string[] | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * Whether `pid` names a live process: it exists and is not a zombie. On systems without /proc
 * this falls back to `kill(pid, 0)`.
 */
export function isAlive(pid: number): boolean {
  if (!(pid > 0)) return false;
  if (HAS_PROC) {
    const fields = procStat(pid);
    if (fields === undefined) return false;
    const state = fields[0];
    return state !== 'Z' && state !== 'X' && state !== 'x';
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Every live descendant of `pid` (children, grandchildren, ...), found by scanning /proc. */
export function descendants(pid: number): number[] {
  if (!HAS_PROC) return [];
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = procStat(Number(entry));
    if (fields === undefined) continue;
    const ppid = Number(fields[1]);
    let list = children.get(ppid);
    if (list === undefined) children.set(ppid, (list = []));
    list.push(Number(entry));
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift()!) ?? []) {
      out.push(child);
      queue.push(child);
    }
  }
  return out;
}

/** Sends `signal` to `pid`, ignoring "no such process". */
export function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/**
 * Sends `signal` to `pid` and, when `tree` is set, to every descendant of it (snapshotted first,
 * then the root is signalled before its descendants so it cannot fork replacements). Returns every
 * PID signalled.
 */
export function signalTree(pid: number, signal: NodeJS.Signals, tree: boolean): number[] {
  const pids = tree ? [pid, ...descendants(pid)] : [pid];
  for (const p of pids) signalPid(p, signal);
  return pids;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until none of `pids` is alive; rejects after `timeoutMs`. */
export async function waitPidsGone(pids: readonly number[], timeoutMs = EVENT_BOUND_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const alive = pids.filter(isAlive);
    if (alive.length === 0) return;
    if (Date.now() > deadline) throw new Error(`processes still alive after ${timeoutMs} ms: ${alive.join(', ')}`);
    await sleep(20);
  }
}

/** The last `lines` lines of a (log) file, or a note saying it could not be read. */
export function tailFile(file: string, lines = 30): string {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const length = Math.min(size, 16 * 1024);
      const buffer = Buffer.alloc(length);
      fs.readSync(fd, buffer, 0, length, size - length);
      return buffer.toString('utf8').split('\n').slice(-lines - 1).join('\n').trimEnd();
    } finally {
      fs.closeSync(fd);
    }
  } catch (error) {
    return `(could not read ${file}: ${(error as Error).message})`;
  }
}

// ---------------------------------------------------------------------------------------------
// Safety nets: every live spawned process and every temporary directory, cleaned up on exit.

interface LiveEntry {
  readonly tree: boolean;
}
const livePids = new Map<number, LiveEntry>();
const tempDirs = new Set<string>();
let hookInstalled = false;

function installExitHook(): void {
  if (hookInstalled) return;
  hookInstalled = true;
  process.on('exit', () => {
    for (const [pid, entry] of livePids) {
      try {
        signalTree(pid, 'SIGKILL', entry.tree);
      } catch {
        // best effort: the process is exiting
      }
    }
    livePids.clear();
    if (process.env.DEADBOLT_HARNESS_KEEP) return;
    for (const dir of tempDirs) {
      try {
        fs.rmSync(dir, { recursive: true, force: true });
      } catch {
        // best effort
      }
    }
  });
}

/** PIDs of every server process this module spawned that has not exited yet. */
export function liveServerPids(): number[] {
  return [...livePids.keys()].filter(isAlive);
}

const TEMP_PREFIX = 'deadbolt-harness-';
let swept = false;
let tmpRoot: string | undefined;

/**
 * Where server directories go: `$DEADBOLT_HARNESS_TMPDIR` if set; else /dev/shm when it is a
 * tmpfs with at least 1 GiB free (data directories on a busy disk made a PostgreSQL start take
 * 1–2 s instead of 0.2 s here, and keep etcd's fsyncs off a contended disk); else the OS temp dir.
 */
export function harnessTmpRoot(): string {
  if (tmpRoot !== undefined) return tmpRoot;
  const override = process.env.DEADBOLT_HARNESS_TMPDIR;
  if (override !== undefined && override !== '') return (tmpRoot = override);
  tmpRoot = os.tmpdir();
  try {
    const TMPFS_MAGIC = 0x01021994;
    const stat = fs.statfsSync('/dev/shm');
    fs.accessSync('/dev/shm', fs.constants.W_OK);
    if (stat.type === TMPFS_MAGIC && stat.bavail * stat.bsize >= 1024 ** 3) tmpRoot = '/dev/shm';
  } catch {
    // no usable /dev/shm
  }
  return tmpRoot;
}

/**
 * Removes temporary directories left by earlier harness processes that died without cleaning up
 * (their `.owner` file names a PID, with its start time, that is no longer running).
 */
function sweepStaleTempDirs(): void {
  if (swept) return;
  swept = true;
  let entries: string[];
  try {
    entries = fs.readdirSync(harnessTmpRoot());
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!entry.startsWith(TEMP_PREFIX)) continue;
    const dir = path.join(harnessTmpRoot(), entry);
    try {
      const [pid, start] = fs.readFileSync(path.join(dir, '.owner'), 'utf8').trim().split(' ');
      const ownerAlive = isAlive(Number(pid)) && (procStat(Number(pid))?.[19] ?? '') === start;
      if (!ownerAlive && Date.now() - fs.statSync(dir).mtimeMs > 60_000) {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    } catch {
      // not ours to judge
    }
  }
}

/**
 * Creates a fresh directory `<root>/deadbolt-harness-<label>-XXXXXX` (root: see
 * {@link harnessTmpRoot}), removed by
 * {@link removeTempDir} or, failing that, when the process exits. Set
 * `DEADBOLT_HARNESS_KEEP=1` to keep directories (data and logs) for inspection.
 */
export function makeTempDir(label: string): string {
  installExitHook();
  sweepStaleTempDirs();
  const dir = fs.mkdtempSync(path.join(harnessTmpRoot(), `${TEMP_PREFIX}${label}-`));
  tempDirs.add(dir);
  const start = procStat(process.pid)?.[19] ?? '';
  fs.writeFileSync(path.join(dir, '.owner'), `${process.pid} ${start}\n`);
  return dir;
}

/** Removes a directory made by {@link makeTempDir} (unless `DEADBOLT_HARNESS_KEEP` is set). */
export async function removeTempDir(dir: string): Promise<void> {
  tempDirs.delete(dir);
  if (process.env.DEADBOLT_HARNESS_KEEP) return;
  await fs.promises.rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

// ---------------------------------------------------------------------------------------------
// Spawning.

let setprivPath: string | null | undefined;
function setpriv(): string | null {
  if (setprivPath === undefined) {
    setprivPath = null;
    if (process.platform === 'linux') {
      for (const candidate of ['/usr/bin/setpriv', '/bin/setpriv']) {
        try {
          fs.accessSync(candidate, fs.constants.X_OK);
          setprivPath = candidate;
          break;
        } catch {
          // try the next
        }
      }
    }
  }
  return setprivPath;
}

/** What to run for one server process. */
export interface SpawnSpec {
  readonly command: string;
  readonly args: readonly string[];
  /** Appended to (a header line marks each start). */
  readonly logFile: string;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Run as this user/group (root only), e.g. the `postgres` user. */
  readonly uid?: number;
  readonly gid?: number;
  /** Whether signals in the exit hook should also reach the process's descendants. */
  readonly tree?: boolean;
}

/** A spawned server process and a promise of how it ended. */
export interface Spawned {
  readonly pid: number;
  readonly child: ChildProcess;
  readonly exited: Promise<ExitInfo>;
  /** Set once the process has exited (or failed to spawn). */
  exitInfo(): ExitInfo | undefined;
}

/**
 * Spawns a server with stdin from /dev/null and stdout/stderr appended to `spec.logFile`, not
 * detached (a terminal's Ctrl-C reaches it too), unref'd (a forgotten server does not keep the
 * test process alive; the exit hook then kills it), and under `setpriv --pdeathsig KILL` where
 * available. Rejects if the process cannot be spawned.
 */
export async function spawnServer(spec: SpawnSpec): Promise<Spawned> {
  installExitHook();
  const fd = fs.openSync(spec.logFile, 'a');
  let child: ChildProcess;
  try {
    fs.writeSync(fd, `\n===== ${new Date().toISOString()} harness start: ${spec.command} ${spec.args.join(' ')}\n`);
    const wrapper = setpriv();
    const [command, args] =
      wrapper === null
        ? [spec.command, [...spec.args]]
        : [wrapper, ['--pdeathsig', 'KILL', '--', spec.command, ...spec.args]];
    child = spawn(command, args, {
      stdio: ['ignore', fd, fd],
      cwd: spec.cwd,
      env: spec.env ?? process.env,
      uid: spec.uid,
      gid: spec.gid,
      detached: false,
    });
  } finally {
    fs.closeSync(fd);
  }
  let info: ExitInfo | undefined;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('error', (error) => {
      if (child.pid === undefined) resolve((info ??= { code: null, signal: null, error }));
    });
    child.once('exit', (code, signal) => {
      if (child.pid !== undefined) livePids.delete(child.pid);
      resolve((info ??= { code, signal }));
    });
  });
  if (child.pid === undefined) {
    const result = await exited;
    throw new Error(`could not spawn ${spec.command}: ${result.error?.message ?? 'unknown error'}`);
  }
  livePids.set(child.pid, { tree: spec.tree ?? false });
  child.unref();
  return { pid: child.pid, child, exited, exitInfo: () => info };
}

/** Resolves with `promise`'s value, or rejects with `message` after `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, message: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    // Ref'd on purpose: while someone awaits this, the process must not exit under it (the
    // child processes themselves are unref'd).
    timer = setTimeout(() => reject(new Error(message())), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
