/**
 * The CLI's exit codes and the one error type its commands throw.
 *
 * Codes follow sysexits(3) where one fits, so scripts can tell "the lock was
 * busy" from "you typed it wrong" from "the command failed"; `run` passes the
 * command's own status through, and uses the shell's conventions (126, 127,
 * 128 + signal) for what happens around the command. docs/cli.md lists them.
 *
 * @module
 */

/**
 * Every exit code deadbolt itself chooses (besides `run` passing on its command's status).
 *
 * @example
 * ```sh
 * deadbolt run --no-wait nightly -- ./report.sh; [ $? -eq 75 ] && echo "already running"
 * ```
 */
export const ExitCode = {
  /** Success. */
  OK: 0,
  /** `break` broke nothing: the lock was not held, confirmation was declined, or it is still held after SIGKILL. */
  NOT_BROKEN: 1,
  /** `show` / `break` on an engine: no holder, waiter or break record of that name in the namespace. */
  UNKNOWN_LOCK: 1,
  /** EX_USAGE: bad command line, or `break` without `--yes` when stdin is not a terminal. */
  USAGE: 64,
  /** EX_NOINPUT: the lock directory does not exist (ls, show, clean, break). */
  NO_INPUT: 66,
  /**
   * EX_UNAVAILABLE: `break` refused, because the holder cannot be identified safely;
   * or an engine (`--backend etcd://…`) could not be reached within `--connect-timeout` (the message names each cause).
   */
  UNAVAILABLE: 69,
  /** EX_SOFTWARE: an unexpected internal error (a bug). */
  SOFTWARE: 70,
  /** EX_OSERR: the native addon cannot be loaded, or a system call failed. */
  OS_ERROR: 71,
  /** EX_CANTCREAT: `run` cannot create or write the lock directory. */
  CANT_CREATE: 73,
  /** EX_TEMPFAIL: `run --no-wait` found the lock busy. */
  BUSY: 75,
  /**
   * `run` on an engine: the lock was lost while the command ran (its lease expired, or it was
   * broken); the command was stopped (SIGTERM, then SIGKILL after `--grace`), or had ended
   * before the loss was noticed (the message says which). EX_PROTOCOL's
   * number, otherwise unused by deadbolt, so a script can tell it from the command's own failures.
   */
  LOCK_LOST: 76,
  /**
   * EX_NOPERM: permission denied (clean on a directory it cannot write, break on a holder it cannot
   * signal), or an engine refused the credentials (or the user's rights).
   */
  NO_PERMISSION: 77,
  /**
   * EX_CONFIG: no lock directory or backend configured, an engine's driver package is not
   * installed (the message names the `npm install` to run), or an unsafe password file.
   */
  CONFIG: 78,
  /** `run --timeout` ran out before the lock was granted (as timeout(1)). */
  TIMEOUT: 124,
  /** `run`: the command exists but cannot be executed (as the shell). */
  CANNOT_EXECUTE: 126,
  /** `run`: the command was not found (as the shell). */
  COMMAND_NOT_FOUND: 127,
} as const;

/**
 * An error a command reports to the user: a message for stderr and the exit
 * code to leave with. Anything else thrown is a bug (exit 70).
 *
 * @example
 * ```ts
 * throw new CliError(ExitCode.BUSY, 'lock "nightly" is held by pid 1234; not waiting (--no-wait)');
 * ```
 */
export class CliError extends Error {
  /** The process exit code. */
  readonly exitCode: number;
  /** A line shown after the message, e.g. how to fix it. */
  readonly hint: string | undefined;

  constructor(exitCode: number, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CliError';
    this.exitCode = exitCode;
    this.hint = options.hint;
  }
}

/**
 * A usage error (exit 64) for the given message.
 *
 * @example
 * ```ts
 * throw usageError('missing "--" before the command', 'deadbolt run NAME -- CMD [ARGS...]');
 * ```
 */
export function usageError(message: string, hint?: string): CliError {
  return new CliError(ExitCode.USAGE, message, hint === undefined ? {} : { hint });
}
