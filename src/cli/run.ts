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
import { ConfigurationError, LockTimeoutError, NativeError, UnsupportedError, isInvalidArgument } from '../errors.js';
import { DirectoryHandle } from '../file/directory-handle.js';
import type { FileLockGuard } from '../file/file-guard.js';
import { LockDirectory, type OwnedAcquireOptions } from '../file/lock-directory.js';
import { lockFileName } from '../file/lock-name.js';
import type { LockOwner } from '../contracts/fenced-guard.js';
import { formatDuration } from './durations.js';
import { CliError, ExitCode, usageError } from './exit-codes.js';
import { holderSummary } from './holder-summary.js';
import type { Output } from './output.js';
import { runOnEngine, type EngineRunOptions } from './engine-run.js';
import { runHolding, runOwner } from './run-holding.js';
import { Interrupted, SignalRelay } from './signal-relay.js';
import { resolveAnyTarget, type TargetOptions } from './target.js';
import { startWaitingLine } from './waiting-line.js';

/**
 * Options of `deadbolt run`.
 *
 * @example
 * ```ts
 * const options: RunOptions = { lockPath: './locks', shared: false, wait: true, timeout: 5000 };
 * ```
 */
export interface RunOptions extends TargetOptions, EngineRunOptions {}

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
