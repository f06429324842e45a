/**
 * Every error deadbolt throws, in one place, each with a stable `code`.
 *
 * Match on `code` (or `instanceof`), never on `message`: codes are part of the
 * public contract, messages are written for people and may improve.
 * The error that caused ours, when there is one, is kept in `cause`.
 *
 * Bad arguments are the one exception to "everything is a DeadboltError": they
 * throw the built-in `TypeError` / `RangeError` (what JavaScript users expect),
 * synchronously, carrying `code: 'DEADBOLT_INVALID_ARGUMENT'`.
 *
 * @module
 */

/**
 * Every stable error code, with the one-line meaning that `docs/errors.md` expands.
 *
 * @example
 * ```ts
 * import { ErrorCodes } from 'deadbolt';
 * if (err.code === ErrorCodes.TIMEOUT) retryLater();
 * ```
 */
export const ErrorCodes = {
  /** A wait ran out of its `timeout`. */
  TIMEOUT: 'DEADBOLT_TIMEOUT',
  /** The primitive, directory or coordinator was closed. */
  CLOSED: 'DEADBOLT_CLOSED',
  /** A held lock can no longer be trusted (lease expired, key deleted, file replaced, broken). */
  LOCK_LOST: 'DEADBOLT_LOCK_LOST',
  /** The coordinator's session (lease) was lost; every lock it held is lost with it. */
  SESSION_LOST: 'DEADBOLT_SESSION_LOST',
  /** A write carried a fencing token lower than one already admitted. */
  FENCED_OUT: 'DEADBOLT_FENCED_OUT',
  /** Configuration is missing or contradictory (no lock path, unknown URL scheme, missing peer package). */
  CONFIG: 'DEADBOLT_CONFIG',
  /** The coordination engine could not be reached in time. */
  BACKEND_UNAVAILABLE: 'DEADBOLT_BACKEND_UNAVAILABLE',
  /** The coordination engine answered with an error. */
  BACKEND: 'DEADBOLT_BACKEND',
  /** A system call in the native addon failed, or the addon could not be loaded. */
  NATIVE: 'DEADBOLT_NATIVE',
  /**
   * A file or directory deadbolt was about to use is not safe to use: a symbolic link, a hard link,
   * a FIFO or device, a file owned by someone the lock directory does not trust, a world-writable one.
   */
  UNSAFE: 'DEADBOLT_UNSAFE',
  /** The platform or driver cannot do what was asked. */
  UNSUPPORTED: 'DEADBOLT_UNSUPPORTED',
  /** A conditional `break(name, { expect })` found other holders than expected: nothing was broken. */
  HOLDER_CHANGED: 'DEADBOLT_HOLDER_CHANGED',
  /** An argument was invalid (carried by `TypeError` / `RangeError`). */
  INVALID_ARGUMENT: 'DEADBOLT_INVALID_ARGUMENT',
} as const;

/**
 * One of the stable error codes.
 *
 * @example
 * ```ts
 * const code: ErrorCode = 'DEADBOLT_TIMEOUT';
 * ```
 */
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/**
 * Options shared by every deadbolt error.
 *
 * @example
 * ```ts
 * new BackendError('etcd refused the lease grant', { cause: err });
 * ```
 */
export interface DeadboltErrorOptions {
  /** The underlying error, kept for diagnosis. */
  cause?: unknown;
}

/**
 * The base class of every error deadbolt raises at run time.
 *
 * @example
 * ```ts
 * try { await lock.acquire('jobs', { timeout: 100 }); }
 * catch (err) { if (err instanceof DeadboltError) console.error(err.code, err.message); }
 * ```
 */
export class DeadboltError extends Error {
  /** The stable code: match on this, not on `message`. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: DeadboltErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * A wait for a lock or permit ran out of its `timeout`. Nothing was acquired.
 *
 * @example
 * ```ts
 * await mutex.acquire({ timeout: 50 }).catch((e) => e instanceof LockTimeoutError);
 * ```
 */
export class LockTimeoutError extends DeadboltError {
  /** The timeout that ran out, in milliseconds. */
  readonly timeout: number;

  constructor(message: string, timeout: number, options?: DeadboltErrorOptions) {
    super(ErrorCodes.TIMEOUT, message, options);
    this.timeout = timeout;
  }
}

/**
 * The primitive, lock directory or coordinator was closed: waiters are rejected
 * with this, and new acquisitions fail with it.
 *
 * @example
 * ```ts
 * sem.close();
 * await sem.acquire(); // rejects with ClosedError
 * ```
 */
export class ClosedError extends DeadboltError {
  constructor(message: string, options?: DeadboltErrorOptions) {
    super(ErrorCodes.CLOSED, message, options);
  }
}

/**
 * Why a lock stopped being trustworthy.
 *
 * - `expired`: its lease or deadline passed without renewal.
 * - `deleted`: its key or lock file vanished or was replaced behind its back.
 * - `broken`: an operator broke it (`break`).
 * - `session`: the session carrying it was lost.
 * - `released`: reserved for the predecessor report; a guard is never lost this way.
 */
export type LossReason = 'expired' | 'deleted' | 'broken' | 'session' | 'released';

/**
 * A held lock can no longer be trusted. This is the `reason` of a
 * `FencedGuard.signal` once it aborts; stop touching the protected resource.
 *
 * @example
 * ```ts
 * guard.signal.addEventListener('abort', () => {
 *   const err = guard.signal.reason as LockLostError;
 *   console.error(`lost ${err.lockName} (token ${err.token}): ${err.reason}`);
 * });
 * ```
 */
export class LockLostError extends DeadboltError {
  /** The lock's name. */
  readonly lockName: string;
  /** The fencing token of the grant that was lost. */
  readonly token: bigint;
  /** Why it was lost. */
  readonly reason: LossReason;

  constructor(
    message: string,
    details: { lockName: string; token: bigint; reason: LossReason },
    options?: DeadboltErrorOptions,
  ) {
    super(ErrorCodes.LOCK_LOST, message, options);
    this.lockName = details.lockName;
    this.token = details.token;
    this.reason = details.reason;
  }
}

/**
 * The coordinator's session (its lease with the engine) is gone: every lock it
 * held is lost, and the coordinator must be reconnected.
 *
 * @example
 * ```ts
 * coordinator.signal.addEventListener('abort', () => {
 *   if (coordinator.signal.reason instanceof SessionLostError) process.exitCode = 1;
 * });
 * ```
 */
export class SessionLostError extends DeadboltError {
  constructor(message: string, options?: DeadboltErrorOptions) {
    super(ErrorCodes.SESSION_LOST, message, options);
  }
}

/**
 * A write carried a fencing token lower than the highest already admitted for
 * that name: it comes from a holder that lost the lock, and must be rejected.
 *
 * @example
 * ```ts
 * const fence = new Fence();
 * fence.check('jobs', 7n);
 * fence.check('jobs', 5n); // throws FencedOutError
 * ```
 */
export class FencedOutError extends DeadboltError {
  /** The lock name the write was for. */
  readonly lockName: string;
  /** The token the write carried. */
  readonly token: bigint;
  /** The highest token already admitted for that name. */
  readonly highest: bigint;

  constructor(lockName: string, token: bigint, highest: bigint) {
    super(
      ErrorCodes.FENCED_OUT,
      `write to "${lockName}" with fencing token ${token} rejected: token ${highest} was already admitted, ` +
        'so this writer lost its lock; re-acquire the lock and re-read the resource before writing',
    );
    this.lockName = lockName;
    this.token = token;
    this.highest = highest;
  }
}

/**
 * Configuration is missing or contradictory: no lock path, an unknown URL
 * scheme, a driver package that is not installed, a driver that lacks a
 * capability the caller requires.
 *
 * @example
 * ```ts
 * new LockDirectory(); // without DEADBOLT_LOCK_PATH: throws ConfigurationError
 * ```
 */
export class ConfigurationError extends DeadboltError {
  constructor(message: string, options?: DeadboltErrorOptions) {
    super(ErrorCodes.CONFIG, message, options);
  }
}

/**
 * The coordination engine could not be reached (refused, timed out, DNS).
 *
 * @example
 * ```ts
 * await connect('etcd://127.0.0.1:1').catch((e) => e.code === 'DEADBOLT_BACKEND_UNAVAILABLE');
 * ```
 */
export class BackendUnavailableError extends DeadboltError {
  constructor(message: string, options?: DeadboltErrorOptions) {
    super(ErrorCodes.BACKEND_UNAVAILABLE, message, options);
  }
}

/**
 * The coordination engine answered with an error (permission denied, bad request).
 *
 * @example
 * ```ts
 * if (err instanceof BackendError) console.error(err.message, err.cause);
 * ```
 */
export class BackendError extends DeadboltError {
  constructor(message: string, options?: DeadboltErrorOptions) {
    super(ErrorCodes.BACKEND, message, options);
  }
}

/**
 * A system call made by the native addon failed, or the addon could not be loaded.
 * `errno` and `syscall` say which; `path` says on what, when known.
 *
 * @example
 * ```ts
 * if (err instanceof NativeError && err.errno === 'EMFILE') raiseUlimit();
 * ```
 */
export class NativeError extends DeadboltError {
  /** The symbolic errno (`EACCES`, `EMFILE`, …), when a system call failed. */
  readonly errno: string | undefined;
  /** The failing system call, when known. */
  readonly syscall: string | undefined;
  /** The path involved, when known. */
  readonly path: string | undefined;

  constructor(
    message: string,
    details: { errno?: string; syscall?: string; path?: string } = {},
    options?: DeadboltErrorOptions,
  ) {
    super(ErrorCodes.NATIVE, message, options);
    this.errno = details.errno;
    this.syscall = details.syscall;
    this.path = details.path;
  }
}

/**
 * A file or directory that deadbolt was about to open, write, lock, delete or
 * trust is not what it must be (docs/security.md): a symbolic link, a hard
 * link, a FIFO, socket or device, a file owned by a user the lock directory
 * does not trust, a world-writable file, a file that holds data other than a
 * holder record, or a directory others could swap. Nothing was done with it.
 * `path` names it and `reason` says which rule it broke.
 *
 * @example
 * ```ts
 * try { await locks.acquire('jobs'); }
 * catch (err) { if (err instanceof UnsafeFileError) alertOperator(err.path, err.reason); }
 * ```
 */
export class UnsafeFileError extends DeadboltError {
  /** The file or directory refused. */
  readonly path: string;
  /** Which rule it broke. */
  readonly reason: 'notRegular' | 'hardLinked' | 'foreignOwner' | 'worldWritable' | 'notLockFile' | 'symlink' | 'untrustedDirectory';

  constructor(message: string, path: string, reason: UnsafeFileError['reason'], options?: DeadboltErrorOptions) {
    super(ErrorCodes.UNSAFE, message, options);
    this.path = path;
    this.reason = reason;
  }
}

/**
 * The platform or driver cannot do what was asked (no OFD locks, no shared
 * mode on this driver, …). Never a silent no-op.
 *
 * @example
 * ```ts
 * await coordinator.acquire('x', { mode: 'shared' }); // UnsupportedError on a driver without shared locks
 * ```
 */
export class UnsupportedError extends DeadboltError {
  constructor(message: string, options?: DeadboltErrorOptions) {
    super(ErrorCodes.UNSUPPORTED, message, options);
  }
}

/**
 * A conditional break (`coordinator.break(name, { expect })`) found the lock
 * held by other tokens than the ones expected — released, or granted to
 * someone else since the operator looked. The engine compared and refused in
 * one atomic step: nothing was broken, the current holders keep the lock.
 *
 * @example
 * ```ts
 * try { await coordinator.break('jobs', { reason: 'stuck', expect: [41n] }); }
 * catch (err) { if (err instanceof HolderChangedError) console.error(`now held by ${err.found.join(', ') || 'nobody'}`); }
 * ```
 */
export class HolderChangedError extends DeadboltError {
  /** The holders' tokens the caller expected, ascending. */
  readonly expected: readonly bigint[];
  /** The holders' tokens the engine had, ascending (empty: nobody held it). */
  readonly found: readonly bigint[];

  constructor(lockName: string, expected: readonly bigint[], found: readonly bigint[], options?: DeadboltErrorOptions) {
    const list = (tokens: readonly bigint[]): string => (tokens.length === 0 ? 'none' : tokens.join(', '));
    super(
      ErrorCodes.HOLDER_CHANGED,
      `lock "${lockName}" changed hands: expected holder token(s) ${list(expected)}, found ${list(found)}; nothing was broken (look at its holders again before breaking it)`,
      options,
    );
    this.expected = [...expected];
    this.found = [...found];
  }
}

/**
 * A `TypeError` for a bad argument, carrying `code: 'DEADBOLT_INVALID_ARGUMENT'`.
 *
 * @example
 * ```ts
 * throw invalidType('options.timeout', 'a number of milliseconds', '"soon"');
 * ```
 */
export function invalidType(what: string, expected: string, seen: unknown): TypeError & { code: 'DEADBOLT_INVALID_ARGUMENT' } {
  return withCode(new TypeError(`${what} must be ${expected}; got ${describe(seen)}`));
}

/**
 * A `RangeError` for an argument of the right type but out of range, carrying
 * `code: 'DEADBOLT_INVALID_ARGUMENT'`.
 *
 * @example
 * ```ts
 * throw invalidRange('options.weight', 'an integer between 1 and 4', 7);
 * ```
 */
export function invalidRange(what: string, expected: string, seen: unknown): RangeError & { code: 'DEADBOLT_INVALID_ARGUMENT' } {
  return withCode(new RangeError(`${what} must be ${expected}; got ${describe(seen)}`));
}

/**
 * A `TypeError` for an option that does not exist (a misspelling would
 * otherwise be ignored silently), naming the accepted ones; carries
 * `code: 'DEADBOLT_INVALID_ARGUMENT'`.
 *
 * @example
 * ```ts
 * throw unknownOption('options', 'tll', ['ttl', 'namespace']); // options.tll is not an option; accepted: ttl, namespace
 * ```
 */
export function unknownOption(where: string, key: string, accepted: readonly string[]): TypeError & { code: 'DEADBOLT_INVALID_ARGUMENT' } {
  const list = accepted.length === 0 ? 'it takes none' : `accepted: ${accepted.join(', ')}`;
  return withCode(new TypeError(`${where}.${describe(key).slice(1, -1)} is not an option; ${list}`));
}

/**
 * Whether an error is one of deadbolt's argument errors.
 *
 * @example
 * ```ts
 * try { new Semaphore(0); } catch (e) { isInvalidArgument(e); } // true
 * ```
 */
export function isInvalidArgument(err: unknown): err is (TypeError | RangeError) & { code: 'DEADBOLT_INVALID_ARGUMENT' } {
  return (
    (err instanceof TypeError || err instanceof RangeError) &&
    (err as { code?: unknown }).code === ErrorCodes.INVALID_ARGUMENT
  );
}

function withCode<E extends Error>(err: E): E & { code: 'DEADBOLT_INVALID_ARGUMENT' } {
  return Object.assign(err, { code: ErrorCodes.INVALID_ARGUMENT });
}

/** How a value appears in an argument error: enough to recognise it, never huge. */
function describe(value: unknown): string {
  if (typeof value === 'string') {
    const shown = value.length > 80 ? `${value.slice(0, 77)}...` : value;
    return JSON.stringify(shown);
  }
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  return `an object (${Object.prototype.toString.call(value).slice(8, -1)})`;
}
