/**
 * `deadbolt run NAME -- CMD [ARGS…]`: hold a lock while a command runs, like
 * flock(1).
 *
 * Order of events: take the lock (waiting if needed, with a status line on a
 * terminal), start the command with the fencing token in its environment,
 * wait for it, release the lock, then leave the way the command left.
 *
 * What the command inherits: stdin, stdout, stderr and the environment plus
 * `DEADBOLT_TOKEN` and `DEADBOLT_LOCK_NAME`, nothing else. The lock file's
 * descriptor is opened `O_CLOEXEC`, so the command never holds the lock: if
 * deadbolt itself dies (even by SIGKILL) the kernel releases the lock at once,
 * while the command may go on running unlocked. Signals: SIGINT, SIGTERM and
 * SIGHUP sent to deadbolt are passed to the command (SIGINT not when stdin is
 * a terminal: a Ctrl-C reaches the command directly), and deadbolt exits when
 * the command does; while still waiting for the lock, they stop the wait.
 *
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { ConfigurationError, LockTimeoutError, NativeError, UnsupportedError, isInvalidArgument } from '../errors.js';
import { DirectoryHandle } from '../file/directory-handle.js';
import type { FileLockGuard } from '../file/file-guard.js';
import { LockDirectory, type OwnedAcquireOptions } from '../file/lock-directory.js';
import { lockFileName } from '../file/lock-name.js';
import { clipCommand, processIdentity } from '../internal/identity.js';
import type { FencedGuard, LockOwner } from '../contracts/fenced-guard.js';
import { formatDuration } from './durations.js';
import { escapeText } from './escape.js';
import { CliError, ExitCode, usageError } from './exit-codes.js';
import { holderSummary } from './holder-summary.js';
import type { Output } from './output.js';
import { runOnEngine, type EngineRunOptions } from './engine-run.js';
import { resolveAnyTarget, type TargetOptions } from './target.js';
import { startWaitingLine } from './waiting-line.js';
import { onAbort } from '../internal/on-abort.js';

/**
 * Options of `deadbolt run`.
 *
 * @example
 * ```ts
 * const options: RunOptions = { lockPath: './locks', shared: false, wait: true, timeout: 5000 };
 * ```
 */
export interface RunOptions extends TargetOptions, EngineRunOptions {}

/** Signals passed on to the command (and that stop a wait). */
const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
type Forwarded = (typeof FORWARDED)[number];

/**
 * Signals deadbolt re-raises on itself when they ended the command, so its
 * parent sees exactly what it would have seen from the command (a shell stops
 * a loop on Ctrl-C only if the child died of SIGINT). Signals that dump core
 * are reported as 128 + n instead of dumping Node's core.
 */
const RERAISED = new Set(['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGKILL', 'SIGPIPE', 'SIGALRM', 'SIGUSR1', 'SIGUSR2']);

/**
 * Run `command` holding lock `name`; resolves with the exit code (or exits the
 * process by a signal).
 *
 * @example
 * ```ts
 * await runCommand('nightly', ['./report.sh'], { lockPath: '/run/locks', wait: true }, io);
 * ```
 */
export async function runCommand(name: string, command: string[], options: RunOptions, io: Output): Promise<number> {
  if (command.length === 0) throw usageError('no command after "--"', 'deadbolt run NAME -- CMD [ARGS...]');
  const any = resolveAnyTarget(options);
  if (any.kind === 'engine') return runOnEngine(any, name, command, options, io);
  const target = any;
  const cleanup = target.prefix === undefined ? 'on-release' : 'never';
  const locks = new LockDirectory(target.directory, { prefix: target.prefix, cleanup });
  const mode = options.shared ? 'shared' : 'exclusive';
  const file = lockFileName(name, target.prefix);
  const owner = runOwner(name, command[0]!, options.recordArgs === true);

  const signals = new SignalRelay();
  try {
    const guard = await take(locks, { name, mode, owner, directory: target.directory, file }, options, signals, io);
    return await runHolding(guard, command, signals, io);
  } finally {
    signals.dispose();
  }
}

/**
 * The owner `run` writes into its holder record: this process's id, host and
 * pid, and as its command `deadbolt run NAME -- PROGRAM` — the program without
 * its arguments, which may hold secrets and would reach files other users can
 * read (identity.ts). With `--record-args`, the whole command line. The pid-reuse
 * check of `break` and `ls` knows this form (holder-process.ts).
 *
 * @example
 * ```ts
 * runOwner('nightly', './report.sh', false).command; // 'deadbolt run nightly -- ./report.sh'
 * ```
 */
export function runOwner(name: string, program: string, recordArgs: boolean): LockOwner {
  if (recordArgs) return processIdentity({ recordArgs: true });
  return { ...processIdentity(), command: clipCommand(`deadbolt run ${name} -- ${program}`) };
}

/** What `run` asks for: the name, the mode, and the owner its holder record names. */
interface RunRequest {
  name: string;
  mode: 'exclusive' | 'shared';
  owner: LockOwner;
  /** The lock directory and the lock's file in it, for the messages about its holder. */
  directory: string;
  file: string;
}

/** Take the lock: at once, or by waiting (unless --no-wait), or fail with a clear code. */
async function take(locks: LockDirectory, request: RunRequest, options: RunOptions, signals: SignalRelay, io: Output): Promise<FileLockGuard> {
  const { name, mode, owner, file } = request;
  // `owner` is LockDirectory's internal acquire option, the one the file:// driver uses for its coordinator's owner.
  const attempt = (timeout: number | undefined) => {
    const wait: OwnedAcquireOptions = { mode, timeout, signal: signals.waitSignal, owner };
    return libraryCall(() => locks.acquire(name, wait));
  };
  let handle: DirectoryHandle | undefined;
  let line: { stop(): void } | undefined;
  try {
    // A first attempt that does not wait for other holders but, like every wait, ends on a signal.
    const now = await attempt(0).catch((err: unknown) => (err instanceof LockTimeoutError && err.timeout === 0 ? undefined : Promise.reject(err)));
    if (now !== undefined) return now;
    // For the messages about who holds it: display only, never used to decide anything.
    handle = DirectoryHandle.open(request.directory, { fileMode: locks.fileMode, cleanup: false });
    if (!options.wait) throw new CliError(ExitCode.BUSY, `lock "${name}" is ${holderSummary(handle, file, Date.now())}; not waiting (--no-wait)`);
    line = io.stderrIsTTY ? startWaitingLine(name, handle, file) : undefined;
    return await attempt(options.timeout);
  } catch (err) {
    if (err instanceof Interrupted) return await signals.exitBy(err.signal, line);
    if (err instanceof LockTimeoutError) {
      const who = handle === undefined ? '' : `: it is ${holderSummary(handle, file, Date.now())}`;
      throw new CliError(ExitCode.TIMEOUT, `timed out after ${formatDuration(err.timeout)} waiting for lock "${name}"${who}`, err.timeout === options.timeout ? {} : { hint: err.message });
    }
    throw err;
  } finally {
    line?.stop();
    handle?.close();
  }
}

/** A library call whose argument and directory errors become the CLI's. */
async function libraryCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (isInvalidArgument(err)) throw usageError(err.message);
    // The directory's errors come wrapped; a native addon that cannot load is not the directory's fault.
    if (err instanceof ConfigurationError && (err.cause instanceof NativeError || err.cause instanceof UnsupportedError)) throw err.cause;
    if (err instanceof ConfigurationError) throw new CliError(ExitCode.CANT_CREATE, err.message, { cause: err });
    throw err;
  }
}

/**
 * Start the command, wait for it, release, and return its exit code (or exit
 * by its signal). With `stopOnLoss` (engines), a lost lock stops the command
 * (SIGTERM, then SIGKILL after `grace` ms) and run exits 76 (LOCK_LOST);
 * without (lock directories, where the kernel lock cannot be taken away while
 * the holder lives), a loss is reported when the command ends.
 *
 * @internal
 * @example
 * ```ts
 * return await runHolding(guard, ['./job.sh'], signals, io, { grace: 10_000 });
 * ```
 */
export async function runHolding(guard: FencedGuard, command: string[], signals: SignalRelay, io: Output, stopOnLoss?: { grace: number }): Promise<number> {
  let ended: { code: number | null; signal: NodeJS.Signals | null } | { error: NodeJS.ErrnoException };
  let stop: LossStop | undefined;
  const early = signals.waitSignal.reason;
  if (early instanceof Interrupted) {
    // Signalled between the grant and the start: the command never runs.
    await guard.release();
    return await signals.exitBy(early.signal);
  }
  try {
    const child = spawn(command[0]!, command.slice(1), {
      stdio: 'inherit',
      env: { ...process.env, DEADBOLT_TOKEN: guard.token.toString(), DEADBOLT_LOCK_NAME: guard.name },
    });
    signals.forwardTo(child);
    stop = stopOnLoss === undefined ? undefined : stopWhenLost(guard, child, stopOnLoss.grace, io);
    ended = await new Promise((resolve) => {
      child.once('error', (error) => resolve({ error }));
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    stop?.dispose();
  } finally {
    await guard.release();
  }
  if (stopOnLoss !== undefined && guard.signal.aborted) {
    const why = escapeText((guard.signal.reason as Error).message);
    // Lost but not stopped: the loss was noticed only once the command had ended (at release).
    const outcome = stop?.stopped === true ? 'the command was stopped' : 'the command had ended before the loss was noticed';
    throw new CliError(ExitCode.LOCK_LOST, `lock "${guard.name}" was lost while the command ran (${why}); ${outcome}`);
  }
  if (guard.signal.aborted) {
    io.err(io.errColor.yellow(`deadbolt: warning: ${escapeText((guard.signal.reason as Error).message)}`));
  }
  if ('error' in ended) throw spawnError(command[0]!, guard.name, ended.error);
  if (ended.signal !== null) return await signals.exitBy(ended.signal);
  return ended.code ?? ExitCode.SOFTWARE;
}

/** What {@link stopWhenLost} did: whether it stopped the command; `dispose` stops listening. */
interface LossStop {
  readonly stopped: boolean;
  dispose(): void;
}

/**
 * When `guard`'s lock is lost: tell the operator, SIGTERM the command, and
 * SIGKILL it if it is still running `grace` ms later.
 */
function stopWhenLost(guard: FencedGuard, child: ChildProcess, grace: number, io: Output): LossStop {
  let killer: NodeJS.Timeout | undefined;
  let stopped = false;
  const signal = guard.signal; // read once: see onAbort
  const onLost = () => {
    const why = escapeText((signal.reason as Error).message);
    io.err(io.errColor.red(`deadbolt: lock "${escapeText(guard.name)}" lost (${why}): stopping the command (SIGTERM, then SIGKILL after ${formatDuration(grace)})`));
    stopped = true;
    child.kill('SIGTERM');
    killer = setTimeout(() => child.kill('SIGKILL'), grace);
  };
  const stopListening = onAbort(signal, onLost);
  return {
    get stopped() {
      return stopped;
    },
    dispose() {
      stopListening();
      clearTimeout(killer);
    },
  };
}

/**
 * The error for a command that could not be started (the lock is released by then).
 *
 * @internal
 * @example
 * ```ts
 * throw spawnError('./job.sh', 'nightly', err); // 127 for ENOENT
 * ```
 */
export function spawnError(cmd: string, name: string, error: NodeJS.ErrnoException): CliError {
  const released = `(lock "${name}" released)`;
  if (error.code === 'ENOENT') return new CliError(ExitCode.COMMAND_NOT_FOUND, `${cmd}: command not found ${released}`);
  if (error.code === 'EACCES' || error.code === 'ENOEXEC' || error.code === 'EISDIR') {
    return new CliError(ExitCode.CANNOT_EXECUTE, `${cmd}: cannot execute (${error.code}) ${released}`);
  }
  return new CliError(ExitCode.CANNOT_EXECUTE, `${cmd}: cannot start: ${error.message} ${released}`);
}

/**
 * The reason a wait was aborted by a signal.
 *
 * @internal
 * @example
 * ```ts
 * if (err instanceof Interrupted) return await signals.exitBy(err.signal);
 * ```
 */
export class Interrupted extends Error {
  constructor(readonly signal: Forwarded) {
    super(`interrupted by ${signal}`);
  }
}

/**
 * Owns deadbolt's handlers for the forwarded signals: while waiting they abort
 * the wait; while the command runs they are passed to it. Installing a handler
 * also keeps Node from dying on the signal before the lock is released.
 *
 * @internal
 * @example
 * ```ts
 * const signals = new SignalRelay();
 * signals.beforeExit = () => coordinator.close();
 * ```
 */
export class SignalRelay {
  /** Run (and awaited) before `exitBy` ends the process: e.g. close an engine's session. */
  beforeExit: (() => Promise<void>) | undefined;
  readonly #wait = new AbortController();
  #child: ChildProcess | undefined;
  readonly #handlers = new Map<Forwarded, () => void>();

  constructor() {
    for (const signal of FORWARDED) {
      const handler = () => {
        if (this.#child === undefined) this.#wait.abort(new Interrupted(signal));
        // A Ctrl-C on a terminal reaches the whole foreground process group, the
        // command included: passing it on again would be a second Ctrl-C, which
        // many programs take as "quit now, skip the clean shutdown".
        else if (!(signal === 'SIGINT' && process.stdin.isTTY)) this.#child.kill(signal);
      };
      this.#handlers.set(signal, handler);
      process.on(signal, handler);
    }
  }

  get waitSignal(): AbortSignal {
    return this.#wait.signal;
  }

  forwardTo(child: ChildProcess): void {
    this.#child = child;
  }

  /**
   * Leave the way a process killed by `signal` would. With our handler gone
   * the signal's default action ends the process; the kernel may deliver it to
   * another thread a moment after kill() returns, hence the grace before the
   * fallback exit (which core-dumping signals take at once).
   */
  async exitBy(signal: NodeJS.Signals, line?: { stop(): void }): Promise<never> {
    line?.stop();
    this.dispose();
    await this.beforeExit?.().catch(() => {});
    const code = 128 + (constants.signals[signal] ?? 0);
    if (RERAISED.has(signal)) {
      process.kill(process.pid, signal);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    process.exit(code);
  }

  dispose(): void {
    for (const [signal, handler] of this.#handlers) process.off(signal, handler);
    this.#handlers.clear();
  }
}
