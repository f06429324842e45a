/**
 * The binding to deadbolt's native addon: whole-file open-file-description
 * (OFD) locks, the primitive under `LockDirectory`. This is the only module
 * that loads the addon, and it does so lazily, on the first call: importing it
 * has no effect.
 *
 * What the addon guarantees:
 * - Every call except {@link lock} is a few system calls that never wait on
 *   another process, so they are synchronous.
 * - {@link lock} blocks in `fcntl(F_OFD_SETLKW)` on a dedicated native thread
 *   (never on libuv's threadpool, where four blocked waits would stall every
 *   `fs` call of the process). Threads are pooled: parked after a wait, reused
 *   by the next one, gone after 5 s idle. The result reaches JavaScript through
 *   a thread-safe function, not by polling.
 * - A pending wait keeps the event loop alive, like pending I/O. When a Node
 *   environment is torn down (process end, worker thread terminated), its
 *   waits are cancelled and their threads joined.
 * - Cancelling interrupts the wait with a real-time signal (see
 *   {@link nativeInfo}) whose handler does nothing and is installed without
 *   `SA_RESTART`, resent every 2 ms until the waiting thread answers.
 *
 * OFD locks belong to the open file description: two fds opened separately in
 * one process exclude each other, closing an unrelated fd of the same file
 * drops nothing, and they conflict with classic POSIX `fcntl`/`lockf` locks
 * (so Python's `fcntl.lockf` interoperates), not with `flock(2)`.
 *
 * Every system-call failure is a {@link NativeError} naming the errno, the
 * system call, the path, and what to do about it. A kernel or platform
 * without OFD locks gives {@link UnsupportedError}.
 *
 * @internal
 * @module
 */

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getSystemErrorMap } from 'node:util';

import { ConfigurationError, NativeError, UnsupportedError, invalidRange, invalidType } from '../errors.js';

/** A lock mode: many `shared` holders, or one `exclusive` holder. */
type LockMode = 'exclusive' | 'shared';

/**
 * A blocking lock wait started by {@link lock}.
 *
 * @internal
 * @example
 * ```ts
 * const wait = lock(fd, 'exclusive');
 * signal.addEventListener('abort', () => wait.cancel());
 * if (await wait.promise) { try { work(); } finally { unlock(fd); } }
 * ```
 */
export interface LockWait {
  /**
   * Resolves `true` once the lock is granted, `false` when the wait was
   * cancelled (nothing new is held then); rejects with {@link NativeError} on
   * a real error (`EBADF`, `ENOLCK`, …).
   *
   * A grant that wins the race against {@link LockWait.cancel} still resolves
   * `true`: the lock IS held, and the caller must {@link unlock} it.
   */
  readonly promise: Promise<boolean>;
  /**
   * Stops waiting, promptly (a signal interrupts the kernel wait; typically
   * well under a millisecond). Idempotent; a no-op once the wait has finished.
   */
  cancel(): void;
}

/**
 * What {@link nativeInfo} reports.
 *
 * @internal
 */
export interface NativeInfo {
  /** `process.platform` (always `linux` for now). */
  readonly platform: NodeJS.Platform;
  /** Open-file-description locks are available (loading fails otherwise). */
  readonly ofd: true;
  /**
   * The real-time signal used to interrupt lock waits (SIGRTMAX-7 unless another
   * library had already claimed it), or 0 if none was free (then {@link lock} throws).
   */
  readonly signal: number;
  /** The `.node` file that was loaded. */
  readonly addonPath: string;
  /** Live native wait threads in this environment (busy or parked). */
  readonly threads: number;
  /** Of which parked, ready for the next wait. */
  readonly idleThreads: number;
  /** Waits whose promise has not settled yet. */
  readonly pendingWaits: number;
}

/**
 * A granted lock file: its descriptor and, if the grant took one, its fencing
 * token (`undefined` when no counter was given, or when the counter was busy
 * at that instant: then finish with {@link tokenWait}).
 *
 * @internal
 * @example
 * ```ts
 * const grant = acquireNow(path, 'exclusive', 0o644, { counterFd, counterPath, record });
 * ```
 */
export interface FileGrant {
  readonly fd: number;
  readonly token: bigint | undefined;
}

/**
 * A holder record for the addon to write once the token is known: the JSON is
 * `head + token + tail + <ISO time of the grant> + '"}'` (holder-record.ts).
 *
 * @internal
 * @example
 * ```ts
 * const record: RecordParts = { head: '{"name":"a","mode":"exclusive","token":"', tail: '","pid":1,"since":"' };
 * ```
 */
export interface RecordParts {
  readonly head: string;
  readonly tail: string;
}

/**
 * The lock directory's token counter, as a grant needs it: its path (wait
 * threads open their own descriptor) and this thread's open descriptor.
 *
 * @internal
 * @example
 * ```ts
 * const counter: CounterRef = { path: '/run/locks/.deadbolt-tokens', fd: openLockFile(path, 0o644) };
 * ```
 */
export interface CounterRef {
  readonly path: string;
  readonly fd: number;
}

type RawGrant = [number, bigint | null];

/** The addon's raw surface (native/addon.cc). */
interface Addon {
  openLockFile(path: string, mode: number): number;
  acquireNow(
    path: string,
    exclusive: boolean,
    mode: number,
    skipCheck: boolean,
    counterFd: number,
    head: string | null,
    tail: string | null,
  ): RawGrant | undefined;
  tokenNow(counterFd: number, fd: number, head: string | null, tail: string | null): bigint | null;
  releaseFile(fd: number, path: string, exclusive: boolean, cleanup: boolean): number;
  acquireWait(
    path: string,
    exclusive: boolean,
    mode: number,
    skipCheck: boolean,
    cleanup: boolean,
    counterPath: string | null,
    head: string | null,
    tail: string | null,
    announce: boolean,
  ): [Promise<RawGrant | null>, number];
  tokenWait(counterPath: string, mode: number, fd: number, head: string | null, tail: string | null): [Promise<RawGrant>, number];
  tryLock(fd: number, exclusive: boolean): boolean;
  unlock(fd: number): void;
  closeFd(fd: number): void;
  checkIdentity(fd: number, path: string): number;
  unlinkPath(path: string): void;
  lockState(path: string): number;
  probeOfd(path: string): number;
  lock(fd: number, exclusive: boolean): [Promise<number>, number];
  cancel(id: number): void;
  info(): { signal: number; threads: number; idleThreads: number; pendingWaits: number };
  supported: boolean;
}

/** An error as thrown by the addon (native/js_error.h). */
interface RawError extends Error {
  errno?: unknown;
  syscall?: unknown;
  /** A FIFO, socket or device is at the lock path. */
  notRegular?: true;
  /** The token counter holds this unparsable text. */
  corrupt?: string;
  /** The token counter failed, not the lock file. */
  counter?: true;
}

const IDENTITY = ['same', 'missing', 'replaced', 'unlinked'] as const;
/** What the addon answers for a path that is not a regular file. */
const NOT_REGULAR = 4;
const STATE = ['free', 'shared', 'exclusive', 'missing'] as const;

let loaded: { addon: Addon; path: string } | undefined;
let loadError: Error | undefined;

function addon(): Addon {
  return (loaded ?? load()).addon;
}

function load(): { addon: Addon; path: string } {
  if (loadError !== undefined) throw loadError;
  try {
    loaded = loadAddon();
    return loaded;
  } catch (err) {
    loadError = err as Error;
    throw err;
  }
}

function loadAddon(): { addon: Addon; path: string } {
  if (process.platform !== 'linux') {
    throw new UnsupportedError(
      `interprocess locks are not supported on ${process.platform} (${process.arch}): deadbolt's ` +
        'LockDirectory needs Linux open file description locks (F_OFD_SETLK); use an in-process lock ' +
        'or a distributed backend (connect(url)) on this platform',
    );
  }
  const root = packageRoot();
  const require = createRequire(import.meta.url);
  let path: string;
  let native: Addon;
  try {
    const gypBuild = require('node-gyp-build') as { resolve(dir: string): string };
    path = gypBuild.resolve(root);
    native = require(path) as Addon;
  } catch (cause) {
    throw new NativeError(
      `deadbolt's native addon could not be loaded from ${root} (needed by interprocess locks, ` +
        `for ${process.platform}-${process.arch}, Node ABI ${process.versions.modules}): run ` +
        '`npm rebuild deadbolt` (it needs a C++ compiler, make and Python for node-gyp); the ' +
        "loader's error is in `cause`",
      {},
      { cause },
    );
  }
  if (native.supported !== true) {
    throw new UnsupportedError(
      `interprocess locks are not supported on ${process.platform}: the native addon was built without ` +
        'open file description locks',
    );
  }
  const probe = native.probeOfd(path);
  if (probe === errnoOf('EINVAL')) throw ofdUnsupported();
  return { addon: native, path };
}

/** The directory holding deadbolt's package.json, found upward from this file. */
function packageRoot(): string {
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; ) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown };
      if (pkg.name === 'deadbolt') return dir;
    } catch {
      // no package.json here (or an unreadable one): keep walking up
    }
    const parent = dirname(dir);
    if (parent === dir) {
      throw new NativeError(
        `deadbolt's package.json was not found in any directory above ${start}, so its native ` +
          'addon cannot be located: reinstall deadbolt (`npm install deadbolt`)',
      );
    }
    dir = parent;
  }
}

function ofdUnsupported(): UnsupportedError {
  return new UnsupportedError(
    `interprocess locks are not supported on ${process.platform} ${release()}: this kernel has no ` +
      'open file description locks (F_OFD_SETLK answered EINVAL; they need Linux 3.15 or later)',
  );
}

let errnoNames: Map<string, number> | undefined;

function errnoOf(name: string): number {
  if (errnoNames === undefined) {
    errnoNames = new Map();
    for (const [negative, [errName]] of getSystemErrorMap()) errnoNames.set(errName, -negative);
  }
  return errnoNames.get(name) ?? -1;
}

/** What to do about an errno, in a few words; `what` says what we were doing. */
function advice(name: string, syscall: string): string {
  switch (name) {
    case 'EMFILE':
    case 'ENFILE':
      return 'too many open files: raise the limit (ulimit -n) or hold fewer locks';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied: every process sharing these locks needs read and write access to the lock directory and its lock files (check owner, mode, fileMode and umask)';
    case 'ENOENT':
      return syscall === 'unlink'
        ? 'the lock file was removed by someone else while we held its lock: another process broke the lock-file protocol (deleted it without holding the lock); find it'
        : 'the lock directory does not exist: create it first (every process sharing these locks must use the same directory)';
    case 'ENOTDIR':
      return 'a component of the lock path is not a directory: check the lock directory path';
    case 'ELOOP':
      return 'a symbolic link was planted at the lock path; deadbolt never follows symlinks there (O_NOFOLLOW). Remove it and find out who created it';
    case 'EISDIR':
      return 'a directory is in the way at the lock path: remove it or choose another lock name';
    case 'EROFS':
      return 'the file system is read-only: put the lock directory on a writable file system';
    case 'ENOSPC':
    case 'EDQUOT':
      return 'no space, inodes or quota left for lock files on that file system: free some or move the lock directory';
    case 'ENAMETOOLONG':
      return 'the lock path is too long: use a shorter lock directory or lock name';
    case 'EBADF':
      return 'the file descriptor is not open (used after close?) or, for an exclusive lock, not open for writing: this is a bug in the caller';
    case 'ENOLCK':
      return 'the kernel refused a lock (lock table full, or a file system without lock support such as some network mounts): use a local file system';
    case 'EDEADLK':
      return 'the kernel detected a deadlock: release the locks you hold before waiting for this one';
    case 'EAGAIN':
      return syscall === 'pthread_create'
        ? 'no thread could be started for the wait: raise the process thread limit (ulimit -u) or wait for fewer locks at once'
        : 'the resource is temporarily unavailable: retry';
    case 'EBUSY':
      return syscall === 'sigaction'
        ? 'every real-time signal deadbolt can use to interrupt a lock wait (SIGRTMAX-7 to SIGRTMAX-14) already has a handler installed by another library'
        : 'the resource is busy: retry';
    default:
      return 'unexpected failure: please report it with this message';
  }
}

/** Builds the error for a failed system call. */
function systemError(errno: number, syscall: string, what: string, path?: string): Error {
  const [name, description] = getSystemErrorMap().get(-errno) ?? [`errno ${errno}`, 'unknown error'];
  if (name === 'EINVAL' && syscall.startsWith('fcntl(F_OFD_')) return ofdUnsupported();
  const where = path === undefined ? '' : ` "${path}"`;
  const details: { errno: string; syscall: string; path?: string } = { errno: name, syscall };
  if (path !== undefined) details.path = path;
  return new NativeError(
    `${what}${where} failed (${syscall}: ${name}, ${description}): ${advice(name, syscall)}`,
    details,
  );
}

/**
 * Converts what the addon threw; argument errors pass through unchanged.
 * `counter` is the token counter's path, named when it was what failed.
 */
function converted(err: unknown, what: string, path?: string, counter?: string): unknown {
  const raw = err as RawError;
  if (!(raw instanceof Error)) return err;
  if (raw.notRegular === true) return notRegular(path ?? '(unknown)');
  if (typeof raw.corrupt === 'string') return corruptCounter(counter ?? '(unknown)', raw.corrupt);
  if (typeof raw.errno === 'number' && typeof raw.syscall === 'string') {
    return raw.counter === true
      ? systemError(raw.errno, raw.syscall, 'taking a fencing token from the counter', counter)
      : systemError(raw.errno, raw.syscall, what, path);
  }
  return err;
}

function notRegular(path: string): NativeError {
  return new NativeError(
    `lock path ${path} is not a regular file (a FIFO, socket or device was put there); lock files are plain files: remove it`,
    { errno: 'EINVAL', syscall: 'fstat', path },
  );
}

function corruptCounter(path: string, content: string): ConfigurationError {
  // Guessing a value could hand out a token lower than one already used.
  return new ConfigurationError(
    `the fencing-token counter ${path} is corrupt (it holds ${JSON.stringify(content.trim().slice(0, 40))}); ` +
      'write into it a number larger than any token handed out so far (e.g. the current time in microseconds) and retry',
  );
}

function checkFd(fd: number): void {
  if (typeof fd !== 'number') throw invalidType('fd', 'a file descriptor number', fd);
  if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) {
    throw invalidRange('fd', 'a non-negative integer file descriptor', fd);
  }
}

function checkPath(path: string): void {
  if (typeof path !== 'string') throw invalidType('path', 'a string', path);
  if (path.length === 0 || path.includes('\0')) {
    throw invalidRange('path', 'a non-empty path without NUL characters', path);
  }
}

function isExclusive(mode: LockMode): boolean {
  if (mode === 'exclusive') return true;
  if (mode === 'shared') return false;
  throw invalidRange('mode', "'exclusive' or 'shared'", mode);
}

/**
 * Opens (creating if needed) the lock file at `path` with
 * `O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW` and permission bits `mode`
 * (the umask applies), and returns the raw file descriptor. A child process
 * never inherits it (`O_CLOEXEC`), and a symlink at `path` is refused
 * (`ELOOP`): it is not followed.
 *
 * @param path - the lock file's path.
 * @param mode - permission bits for a newly created file, e.g. `0o644`.
 * @returns the file descriptor; close it with {@link closeFd}.
 * @throws NativeError — e.g. `ELOOP` (a symlink was planted at the path),
 *   `ENOENT` (no lock directory), `EACCES`, `EMFILE`.
 * @internal
 * @example
 * ```ts
 * const fd = openLockFile('/run/lock/app/jobs.lock', 0o644);
 * ```
 */
export function openLockFile(path: string, mode: number): number {
  checkPath(path);
  if (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
    throw invalidRange('mode', 'permission bits between 0 and 0o7777', mode);
  }
  const a = addon();
  try {
    return a.openLockFile(path, mode);
  } catch (err) {
    throw converted(err, 'opening lock file', path);
  }
}

/**
 * Tries to take a whole-file OFD lock on `fd` without waiting
 * (`F_OFD_SETLK`). Converting a lock already held on the same fd is allowed:
 * a `shared` holder can try `exclusive` (an upgrade, which fails while another
 * holder exists) and an `exclusive` holder can take `shared` (a downgrade).
 *
 * @param fd - a descriptor from {@link openLockFile}.
 * @param mode - `'exclusive'` (write lock) or `'shared'` (read lock).
 * @returns `true` if the lock is now held, `false` if another holder conflicts.
 * @throws NativeError — e.g. `EBADF`, `ENOLCK`.
 * @internal
 * @example
 * ```ts
 * if (tryLock(fd, 'exclusive')) { try { work(); } finally { unlock(fd); } }
 * ```
 */
export function tryLock(fd: number, mode: LockMode): boolean {
  checkFd(fd);
  const exclusive = isExclusive(mode);
  const a = loaded?.addon ?? addon();
  try {
    return a.tryLock(fd, exclusive);
  } catch (err) {
    throw converted(err, `taking ${mode} lock on fd ${fd}`);
  }
}

/**
 * Releases whatever OFD lock `fd` holds (`F_OFD_SETLK`, `F_UNLCK`). Holding
 * nothing is fine.
 *
 * @param fd - a descriptor from {@link openLockFile}.
 * @throws NativeError — e.g. `EBADF`.
 * @internal
 * @example
 * ```ts
 * unlock(fd);
 * ```
 */
export function unlock(fd: number): void {
  checkFd(fd);
  const a = loaded?.addon ?? addon();
  try {
    a.unlock(fd);
  } catch (err) {
    throw converted(err, `releasing lock on fd ${fd}`);
  }
}

/**
 * Closes `fd`, which releases the lock it holds (and nothing held through
 * other fds of the same file).
 *
 * @param fd - a descriptor from {@link openLockFile}.
 * @throws NativeError — `EBADF` if it was not open.
 * @internal
 * @example
 * ```ts
 * closeFd(fd);
 * ```
 */
export function closeFd(fd: number): void {
  checkFd(fd);
  const a = loaded?.addon ?? addon();
  try {
    a.closeFd(fd);
  } catch (err) {
    throw converted(err, `closing fd ${fd}`);
  }
}

/**
 * Is `fd` still the file at `path`? Compares `fstat(fd)` with `lstat(path)`
 * on (device, inode) and checks that the fd's file still has a link.
 *
 * - `'same'`: yes.
 * - `'missing'`: nothing is at `path` (`ENOENT`).
 * - `'replaced'`: something else is at `path` (another file, or a symlink).
 * - `'unlinked'`: `path` shows the same inode, but it has no link left (an
 *   unlink raced this check, or the file system reuses inode numbers).
 *
 * Anything but `'same'` right after a grant means the lock is on an orphan:
 * close the fd and start over.
 *
 * @param fd - a descriptor from {@link openLockFile}.
 * @param path - the path it was opened at.
 * @throws NativeError — e.g. `EBADF`, `EACCES`.
 * @internal
 * @example
 * ```ts
 * if (checkIdentity(fd, path) !== 'same') { closeFd(fd); retry(); }
 * ```
 */
export function checkIdentity(fd: number, path: string): 'same' | 'missing' | 'replaced' | 'unlinked' {
  checkFd(fd);
  checkPath(path);
  const a = loaded?.addon ?? addon();
  let identity: number;
  try {
    identity = a.checkIdentity(fd, path);
  } catch (err) {
    throw converted(err, 'checking identity of lock file', path);
  }
  if (identity === NOT_REGULAR) throw notRegular(path);
  return IDENTITY[identity]!;
}

/**
 * Removes `path` (`unlink`). Delete-on-release unlinks while still holding the
 * lock, then unlocks.
 *
 * @param path - the lock file's path.
 * @throws NativeError — `ENOENT` (errno `'ENOENT'`) means someone else removed
 *   the file while we held its lock: the protocol was broken, report it.
 * @internal
 * @example
 * ```ts
 * unlinkPath(path); unlock(fd); closeFd(fd);
 * ```
 */
export function unlinkPath(path: string): void {
  checkPath(path);
  const a = loaded?.addon ?? addon();
  try {
    a.unlinkPath(path);
  } catch (err) {
    throw converted(err, 'removing lock file', path);
  }
}

/**
 * Who, if anyone, holds a lock on the file at `path`, seen from a fresh
 * descriptor (`F_OFD_GETLK` for a whole-file write lock): `'free'`,
 * `'shared'`, `'exclusive'`, or `'missing'` when there is no file. Locks held
 * by this process through other fds count (OFD locks belong to each open
 * file), and opening and closing the probe descriptor drops none of them.
 * A symlink at `path` is refused (`ELOOP`). The answer is a snapshot.
 *
 * @param path - the lock file's path.
 * @throws NativeError — e.g. `ELOOP`, `EACCES`.
 * @internal
 * @example
 * ```ts
 * lockState('/run/lock/app/jobs.lock'); // 'exclusive'
 * ```
 */
export function lockState(path: string): 'free' | 'shared' | 'exclusive' | 'missing' {
  checkPath(path);
  const a = loaded?.addon ?? addon();
  try {
    return STATE[a.lockState(path)]!;
  } catch (err) {
    throw converted(err, 'reading lock state of', path);
  }
}

/**
 * Waits for a whole-file OFD lock on `fd` (`F_OFD_SETLKW`) on a dedicated
 * native thread, never on libuv's threadpool. Pending waits keep the event
 * loop alive. Closing `fd` does NOT wake the wait: cancel first.
 *
 * Cancellation: {@link LockWait.cancel} interrupts the kernel wait with a
 * signal and the promise resolves `false` (nothing new is held; a lock this fd
 * already held, e.g. `shared` while waiting to upgrade, is kept). If the grant
 * raced ahead of the cancel, the promise resolves `true` and the caller must
 * {@link unlock}.
 *
 * @param fd - a descriptor from {@link openLockFile}; keep it open until the
 *   promise settles.
 * @param mode - `'exclusive'` or `'shared'`.
 * @throws NativeError — synchronously if no wait thread could be started
 *   (`EAGAIN`) or no wake signal is available (`EBUSY`).
 * @internal
 * @example
 * ```ts
 * const wait = lock(fd, 'exclusive');
 * const timer = setTimeout(() => wait.cancel(), 1000);
 * const granted = await wait.promise;
 * clearTimeout(timer);
 * ```
 */
export function lock(fd: number, mode: LockMode): LockWait {
  checkFd(fd);
  const exclusive = isExclusive(mode);
  const a = loaded?.addon ?? addon();
  let started: [Promise<number>, number];
  try {
    started = a.lock(fd, exclusive);
  } catch (err) {
    throw converted(err, `starting to wait for ${mode} lock on fd ${fd}`);
  }
  const [raw, id] = started;
  const promise = raw.then((result) => {
    if (result > 0) return true;
    if (result === 0) return false;
    throw systemError(-result, 'fcntl(F_OFD_SETLKW)', `waiting for ${mode} lock on fd ${fd}`);
  });
  return {
    promise,
    cancel: () => a.cancel(id),
  };
}

/** What an acquire needs beyond the path: the counter for a token, the record, the test switch. */
interface GrantOptions {
  /** Take a token from this counter (omit: no token, e.g. a shared hold taken once for many holders). */
  readonly counter?: CounterRef | undefined;
  /** Write this record into the lock file with the token (needs `counter`). */
  readonly record?: RecordParts | undefined;
  /** Test-only: skip the inode re-check, to prove the stress test can fail. */
  readonly skipCheck?: boolean;
  /**
   * Test-only: do not announce a wait (with `cleanup`, waiters normally do, so
   * a releaser leaves the file to them instead of unlinking it; native/grant.h).
   */
  readonly silentWait?: boolean;
}

function toGrant(raw: RawGrant): FileGrant {
  return { fd: raw[0], token: raw[1] ?? undefined };
}

/**
 * The whole lock-directory grant in one call, never waiting on another
 * holder: open (creating) the lock file, take a whole-file OFD lock, re-check
 * that the locked inode is the one at `path` (retrying on an orphan), then,
 * with a counter, take the next fencing token and write the record.
 *
 * @returns `undefined` if another holder has the lock; otherwise the grant,
 *   whose `token` is `undefined` if the counter was busy at that instant
 *   (finish with {@link tokenWait}).
 * @throws NativeError (nothing is left locked), or ConfigurationError for a
 *   corrupt token counter.
 * @internal
 * @example
 * ```ts
 * const grant = acquireNow('/run/locks/jobs', 'exclusive', 0o644, { counter, record });
 * ```
 */
export function acquireNow(path: string, mode: LockMode, fileMode: number, options: GrantOptions = {}): FileGrant | undefined {
  checkPath(path);
  const exclusive = isExclusive(mode);
  const { counter, record } = options;
  const a = loaded?.addon ?? addon();
  let raw: RawGrant | undefined;
  try {
    raw = a.acquireNow(path, exclusive, fileMode, options.skipCheck === true, counter?.fd ?? -1, record?.head ?? null, record?.tail ?? null);
  } catch (err) {
    throw converted(err, 'locking lock file', path, counter?.path);
  }
  return raw === undefined ? undefined : toGrant(raw);
}

/**
 * {@link acquireNow}, waiting: the wait and the whole grant run on a
 * dedicated native thread (never libuv's threadpool), and JavaScript hears
 * once, when the grant is complete. With `cleanup`, the wait is announced so
 * that a releaser leaves the file in place for it (native/grant.h). Cancelling interrupts the kernel wait
 * (or the counter wait) and resolves `undefined`: nothing is held then, and a
 * lock file the wait already held is released as a release would (unlinked
 * with `cleanup`). A grant that wins the race against the cancel still
 * resolves: the caller must release it.
 *
 * @throws NativeError synchronously if no wait thread could be started.
 * @internal
 * @example
 * ```ts
 * const wait = acquireWait(path, 'exclusive', 0o644, { counter, record, cleanup: true });
 * signal.addEventListener('abort', () => wait.cancel());
 * const grant = await wait.promise; // undefined if cancelled
 * ```
 */
export function acquireWait(
  path: string,
  mode: LockMode,
  fileMode: number,
  options: GrantOptions & { cleanup: boolean },
): { promise: Promise<FileGrant | undefined>; cancel(): void } {
  checkPath(path);
  const exclusive = isExclusive(mode);
  const { counter, record } = options;
  const a = loaded?.addon ?? addon();
  let started: [Promise<RawGrant | null>, number];
  try {
    started = a.acquireWait(
      path,
      exclusive,
      fileMode,
      options.skipCheck === true,
      options.cleanup,
      counter?.path ?? null,
      record?.head ?? null,
      record?.tail ?? null,
      options.silentWait !== true,
    );
  } catch (err) {
    throw converted(err, `starting to wait for ${mode} lock on`, path);
  }
  const [raw, id] = started;
  return {
    promise: raw.then(
      (result) => (result === null ? undefined : toGrant(result)),
      (err: unknown) => {
        throw converted(err, `waiting for ${mode} lock on`, path, counter?.path);
      },
    ),
    cancel: () => a.cancel(id),
  };
}

/**
 * The next fencing token, without waiting, and the record (if any) written
 * into the held lock file `fd`.
 *
 * @returns the token, or `undefined` if another process is inside its
 *   (microseconds long) increment right now: then use {@link tokenWait}.
 * @throws NativeError, or ConfigurationError for a corrupt counter.
 * @internal
 * @example
 * ```ts
 * const token = tokenNow(counter) ?? (await tokenWait(counter, 0o644));
 * ```
 */
export function tokenNow(counter: CounterRef, fd = -1, record?: RecordParts): bigint | undefined {
  const a = loaded?.addon ?? addon();
  try {
    return a.tokenNow(counter.fd, fd, record?.head ?? null, record?.tail ?? null) ?? undefined;
  } catch (err) {
    throw converted(err, 'taking a fencing token from the counter', undefined, counter.path);
  }
}

/**
 * {@link tokenNow}, waiting for the counter on a native thread (with its own
 * descriptor for it). Not cancellable: the counter is held for microseconds,
 * so the wait ends as soon as its holder's increment does.
 *
 * @internal
 * @example
 * ```ts
 * const token = await tokenWait(counter, 0o644, fd, record);
 * ```
 */
export function tokenWait(counter: CounterRef, fileMode: number, fd = -1, record?: RecordParts): Promise<bigint> {
  const a = loaded?.addon ?? addon();
  let started: [Promise<RawGrant>, number];
  try {
    started = a.tokenWait(counter.path, fileMode, fd, record?.head ?? null, record?.tail ?? null);
  } catch (err) {
    throw converted(err, 'starting to wait for the token counter', counter.path);
  }
  return started[0].then(
    (raw) => raw[1]!,
    (err: unknown) => {
      throw converted(err, 'taking a fencing token from the counter', undefined, counter.path);
    },
  );
}

/**
 * Release a lock-directory lock in one call: with `cleanup`, unlink the file
 * while still holding it (a `shared` holder only if a non-blocking upgrade
 * shows it is the last), then close `fd`, which drops the lock. `fd` is
 * closed whatever happens.
 *
 * @returns what was at `path`: anything but `'same'` means someone else
 *   deleted or replaced the file while it was held.
 * @internal
 * @example
 * ```ts
 * if (releaseFile(fd, path, 'exclusive', true) !== 'same') reportViolation();
 * ```
 */
export function releaseFile(fd: number, path: string, mode: LockMode, cleanup: boolean): 'same' | 'missing' | 'replaced' | 'unlinked' {
  checkFd(fd);
  checkPath(path);
  const exclusive = isExclusive(mode);
  const a = loaded?.addon ?? addon();
  let finding: number;
  try {
    finding = a.releaseFile(fd, path, exclusive, cleanup);
  } catch (err) {
    throw converted(err, 'releasing lock file', path);
  }
  if (finding === NOT_REGULAR) throw notRegular(path);
  return IDENTITY[finding]!;
}

/**
 * Diagnostics about the loaded addon (loading it if needed).
 *
 * @throws UnsupportedError on a platform or kernel without OFD locks;
 *   NativeError if the addon cannot be loaded.
 * @internal
 * @example
 * ```ts
 * console.log(nativeInfo()); // { platform: 'linux', ofd: true, signal: 57, addonPath: '…/deadbolt.node', … }
 * ```
 */
export function nativeInfo(): NativeInfo {
  const { addon: a, path } = loaded ?? load();
  const info = a.info();
  return {
    platform: process.platform,
    ofd: true,
    signal: info.signal,
    addonPath: path,
    threads: info.threads,
    idleThreads: info.idleThreads,
    pendingWaits: info.pendingWaits,
  };
}
