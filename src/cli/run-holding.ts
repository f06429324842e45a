/**
 * What `deadbolt run` does once it holds the lock, on a lock directory or an
 * engine alike: start the command with the fencing token in its environment,
 * stop it when the lock is lost (engines), release, and leave the way the
 * command left.
 *
 * @internal
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { FencedGuard, LockOwner } from '../contracts/fenced-guard.js';
import { clipCommand, processIdentity } from '../internal/identity.js';
import { onAbort } from '../internal/on-abort.js';
import { formatDuration } from './durations.js';
import { escapeText } from './escape.js';
import { CliError, ExitCode } from './exit-codes.js';
import type { Output } from './output.js';
import { Interrupted, type SignalRelay } from './signal-relay.js';

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
