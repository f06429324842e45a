/**
 * LockDirectory: named locks shared by the processes of one host, as files in
 * one directory, on kernel OFD locks (what oslo.concurrency calls external locks).
 *
 * Two levels (DESIGN.md §1): a caller first queues in this process's keyed RW
 * lock, so one process has at most one kernel waiter per name; then it takes the
 * kernel lock, a fencing token and writes its holder record (grant.ts); for an
 * exclusive lock all three happen in one native step, on the wait thread when it
 * had to wait. Same-process shared holders share one kernel shared lock
 * (shared-hold.ts) and take a token each.
 *
 * Every file operation goes through one directory descriptor, opened on first
 * use (directory-handle.ts), in a directory that carries deadbolt's marker
 * (marker.ts); docs/security.md says what that protects against.
 *
 * @module
 */
import { chmodSync, existsSync, lstatSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ClosedError, ConfigurationError, LockTimeoutError, invalidRange, invalidType } from '../errors.js';
import { reportAcquireFailure } from '../internal/acquire-failure.js';
import { WaitSignal } from '../internal/wait-signal.js';
import { processIdentity } from '../internal/identity.js';
import { checkAcquireOptions, checkFunction, checkKnownOptions, checkModeOptions } from '../internal/validate.js';
import { runHolding, type Guard } from '../local/guard.js';
import { KeyedRWLock } from '../local/keyed.js';
import type { AcquireOptions } from '../local/rw-lock.js';
import type { LockOwner } from '../contracts/fenced-guard.js';
import { checkCleanOptions, cleanDirectory, type CleanOptions, type CleanReport } from './clean.js';
import { DirectoryHandle } from './directory-handle.js';
import { FileGuard, type FileLockGuard, type KernelRelease } from './file-guard.js';
import { grantRequest, lockFile, takeToken, tryLockFile, unlockFile } from './grant.js';
import { recordParts, removeSharedRecord, writeSharedRecord, type RecordParts } from './holder-record.js';
import { listDirectory, type LockFileInfo } from './list.js';
import { TOKEN_FILE, checkLockName, checkPrefix, lockFileName } from './lock-name.js';
import { converted } from './native-errors.js';
import { adoptDirectory, requireLockDirectory } from './marker.js';
import { SharedHolds } from './shared-hold.js';

/**
 * Options of {@link LockDirectory}.
 *
 * @example
 * ```ts
 * new LockDirectory('/var/lib/nova/tmp', { prefix: 'nova', cleanup: 'never' }); // oslo.concurrency interop
 * ```
 */
export interface LockDirectoryOptions {
  /**
   * Name files as oslo.concurrency does: `<prefix>-<name>`, `/` → `_`; then the
   * directory needs no marker and only `<prefix>-*` files are listed and cleaned.
   * Without a prefix, names are percent-encoded where a file name can't hold them.
   */
  prefix?: string;
  /**
   * `'on-release'` (default): delete the lock file on release, safely (inode
   * re-check). `'never'`: keep files, as oslo does; required when real
   * oslo.concurrency processes share the directory (they don't re-check).
   */
  cleanup?: 'on-release' | 'never';
  /**
   * Permission bits of the lock files this process creates (default `0o600`; set exactly, whatever the umask). For
   * services of several users sharing one directory, `0o660` in a setgid
   * `2770` directory of their group (docs/security.md). Anyone who can read a
   * lock file can hold a shared lock on it, so never give others read access.
   */
  fileMode?: number;
  /**
   * Record this process's whole command line in holder records (default: only
   * the program and script, since arguments may hold secrets and records are
   * read by whoever can read the directory).
   */
  recordArgs?: boolean;
  /**
   * Publish no lock diagnostics (the file:// driver's coordinator publishes its own).
   * @internal
   */
  quiet?: boolean;
}

/**
 * Acquire options as the file:// driver passes them: the coordinator's owner
 * goes into the holder record instead of this process's default identity.
 * @internal
 */
export interface OwnedAcquireOptions extends AcquireOptions {
  owner?: LockOwner;
}

const ENV_PATH = 'DEADBOLT_LOCK_PATH';

/**
 * How long a caller that asked not to wait (tryAcquire, `timeout: 0`) waits for
 * the token counter after its lock was granted. Honest processes hold the
 * counter for microseconds; only a stuck or hostile process that can read the
 * directory holds it longer, and then the caller must not hang (docs/security.md).
 */
const COUNTER_PATIENCE_MS = 1000;

/** One acquire in progress: what to lock, for whom, and what the grant takes. */
interface LockRequest {
  name: string;
  mode: 'exclusive' | 'shared';
  /** The lock file's name in the directory. */
  file: string;
  started: number;
  owner: LockOwner;
  handle: DirectoryHandle;
  /** The holder record: written by the exclusive grant itself, or, shared, into a record file of its own. */
  record: RecordParts | undefined;
}

/** A kernel lock held (exclusive fd or a share), its token if the grant took one, and how to give it back. */
interface KernelHold {
  fd: number;
  token: bigint | undefined;
  release: KernelRelease;
}

/**
 * Named locks for the processes of one host, in a lock directory.
 *
 * Cancellation: a waiter whose `signal` aborts or `timeout` fires leaves the
 * in-process queue at once, or, if it is already waiting in the kernel (for the
 * lock or for the token counter), its native wait is interrupted within about a
 * millisecond; either way nothing is held afterwards. `close()` does the same
 * to every waiter, with ClosedError.
 *
 * @example
 * ```ts
 * import { LockDirectory } from 'deadbolt';
 * const locks = new LockDirectory('/run/myapp/locks');
 * await locks.run('nightly-report', async (guard) => {
 *   await writeReport({ fencingToken: guard.token });
 * }, { timeout: 5000 });
 * ```
 */
export class LockDirectory {
  /** The directory's absolute path. */
  readonly path: string;
  readonly prefix: string | undefined;
  readonly cleanup: 'on-release' | 'never';
  readonly fileMode: number;
  readonly #quiet: boolean;
  readonly #recordArgs: boolean;
  readonly #keyed = new KeyedRWLock<string>();
  readonly #closing = new AbortController();
  /**
   * The waits under way, which close() ends. Tracked here rather than by a
   * listener on #closing's signal: adding and removing one costs microseconds
   * in a process just woken by a hand-off.
   */
  readonly #waits = new Set<WaitSignal>();
  #handle: DirectoryHandle | undefined;
  /** The directory is marked and its token counter open: locks can be taken. */
  #prepared = false;
  #shares: SharedHolds | undefined;
  /** Acquires under way and guards held: the descriptor is closed only when none is left after close(). */
  #inUse = 0;

  /**
   * @param path - the lock directory; defaults to `DEADBOLT_LOCK_PATH`. Created (0700, or 2770 with a group
   *   fileMode) on first use.
   * @throws ConfigurationError when neither is given.
   */
  constructor(path?: string, options: LockDirectoryOptions = {}) {
    this.path = resolve(checkPath(path));
    if (options === null || typeof options !== 'object') throw invalidType('options', 'an object', options);
    checkKnownOptions(options, 'options', ['prefix', 'cleanup', 'fileMode', 'recordArgs'], ['quiet']);
    this.prefix = checkPrefix(options.prefix);
    this.cleanup = checkCleanup(options.cleanup);
    this.fileMode = checkFileMode(options.fileMode);
    this.#quiet = options.quiet === true;
    this.#recordArgs = options.recordArgs === true;
  }

  /**
   * Wait for the lock `name` in `options.mode` (default exclusive).
   *
   * @throws TypeError / RangeError synchronously for a bad name or options.
   * @example
   * ```ts
   * await using guard = await locks.acquire('db-migrate', { timeout: 30_000 });
   * ```
   */
  acquire(name: string, options?: AcquireOptions): Promise<FileLockGuard> {
    checkLockName(name);
    const { mode, signal, timeout } = checkAcquireOptions(options, 'options', [], ['owner']);
    return this.#acquire(name, mode, signal, timeout, (options as OwnedAcquireOptions | undefined)?.owner);
  }

  /**
   * Take the lock now if no one holds it, else resolve `undefined`. Never waits
   * on another holder.
   *
   * @example
   * ```ts
   * const guard = await locks.tryAcquire('cron-job');
   * if (!guard) return console.log('another run is in progress');
   * ```
   */
  tryAcquire(name: string, options?: { mode?: 'exclusive' | 'shared' }): Promise<FileLockGuard | undefined> {
    checkLockName(name);
    const mode = checkModeOptions(options, ['owner']);
    return this.#tryAcquire(name, mode, (options as OwnedAcquireOptions | undefined)?.owner);
  }

  async #tryAcquire(name: string, mode: 'exclusive' | 'shared', owner: LockOwner | undefined): Promise<FileLockGuard | undefined> {
    const lock = this.#request(name, mode, owner);
    const local = this.#keyed.tryAcquire(lock.file, { mode });
    if (local === undefined) return this.#notInUse(undefined);
    const kernel = this.#orRelease(local, () => this.#tryKernel(lock));
    if (kernel === undefined) {
      await local.release();
      return this.#notInUse(undefined);
    }
    return this.#grant(lock, kernel, local, undefined, 0);
  }

  /**
   * Run `fn` holding the lock; it is released however `fn` ends.
   *
   * @example
   * ```ts
   * const result = await locks.run('compile', () => build(), { mode: 'exclusive', signal });
   * ```
   */
  run<R>(name: string, fn: (guard: FileLockGuard) => R | PromiseLike<R>, options?: AcquireOptions): Promise<Awaited<R>> {
    checkFunction(fn, 'fn');
    return runHolding(this.acquire(name, options), fn);
  }

  /**
   * Every lock file in the directory: its state (free / shared / exclusive, from
   * the kernel), its holder record when held, and its age. A directory that does
   * not exist lists as empty; one that is not a lock directory (no marker and no
   * prefix) is a ConfigurationError.
   *
   * @example
   * ```ts
   * for (const f of await locks.list()) console.log(f.name, f.state, f.holder?.owner.pid);
   * ```
   */
  async list(): Promise<LockFileInfo[]> {
    if (this.#handle === undefined && missing(this.path)) return [];
    return listDirectory(this.#inspect(), this.prefix);
  }

  /**
   * Remove unused lock files, safely while other processes use the directory:
   * each file is removed only under a non-blocking exclusive lock, after an
   * inode re-check, and only if it is a lock file (docs/security.md). Reports
   * what was removed and what was skipped, and why.
   *
   * @example
   * ```ts
   * const { removed, skipped } = await locks.clean({ olderThan: 3_600_000 });
   * ```
   */
  clean(options?: CleanOptions): Promise<CleanReport> {
    checkCleanOptions(options);
    return this.#clean(options);
  }

  async #clean(options: CleanOptions | undefined): Promise<CleanReport> {
    return cleanDirectory(this.#inspect(), this.prefix, options);
  }

  /**
   * Create the directory now and check it is usable, instead of on the first
   * acquire: lets a service fail at startup with a clear ConfigurationError.
   *
   * @example
   * ```ts
   * const locks = new LockDirectory(process.env.LOCK_DIR).open();
   * ```
   */
  open(): this {
    this.#ready();
    return this;
  }

  /**
   * Reject every waiter of this instance, and later calls, with ClosedError;
   * a waiter blocked in the kernel is interrupted at once. Held guards stay
   * valid until released; the directory's descriptor is closed after the last.
   *
   * @example
   * ```ts
   * locks.close();
   * ```
   */
  close(reason?: unknown): void {
    if (this.#closing.signal.aborted) return;
    this.#keyed.close(reason);
    this.#closing.abort(new ClosedError(`lock directory ${this.path} was closed`, reason === undefined ? undefined : { cause: reason }));
    for (const wait of this.#waits) wait.abort(this.#closing.signal.reason);
    this.#notInUse(undefined, 0);
  }

  /** #take, publishing `deadbolt:lock:acquire-failed` when it fails (unless quiet). */
  async #acquire(
    name: string,
    mode: 'exclusive' | 'shared',
    signal: AbortSignal | undefined,
    timeout: number | undefined,
    owner: LockOwner | undefined,
  ): Promise<FileLockGuard> {
    const started = performance.now();
    try {
      return await this.#take(name, mode, signal, timeout, owner);
    } catch (err) {
      if (!this.#quiet) reportAcquireFailure({ name, mode, backend: 'file', started, signal }, err);
      throw err;
    }
  }

  async #take(
    name: string,
    mode: 'exclusive' | 'shared',
    signal: AbortSignal | undefined,
    timeout: number | undefined,
    owner: LockOwner | undefined,
  ): Promise<FileLockGuard> {
    if (signal?.aborted) throw signal.reason;
    const lock = this.#request(name, mode, owner);
    // Fast path: free in-process and in the kernel, no timer or signal needed.
    let local = this.#keyed.tryAcquire(lock.file, { mode });
    const kernel = local && this.#orRelease(local, () => this.#tryKernel(lock));
    if (kernel) return this.#grant(lock, kernel, local!, signal, timeout);
    if (timeout === 0) {
      await local?.release();
      this.#notInUse(undefined);
      throw new LockTimeoutError(`lock "${name}" in ${this.path} is held and timeout is 0`, 0);
    }
    const wait = this.#wait(signal, timeout, `lock "${name}" in ${this.path}`);
    let held: KernelHold;
    try {
      local ??= await this.#keyed.acquire(lock.file, { mode, signal: wait.signal });
      held = await this.#kernelLock(lock, wait.signal);
    } catch (err) {
      this.#done(wait);
      await local?.release();
      this.#notInUse(undefined);
      throw wait.explain(err);
    }
    try {
      return await this.#grant(lock, held, local, wait.signal, undefined);
    } finally {
      this.#done(wait);
    }
  }

  /**
   * One acquire's particulars; counts the acquire as in use (#notInUse undoes
   * it when it fails, the guard when it is released).
   */
  #request(name: string, mode: 'exclusive' | 'shared', owner: LockOwner | undefined): LockRequest {
    if (this.#closing.signal.aborted) throw this.#closing.signal.reason;
    const handle = this.#ready();
    const me = owner ?? processIdentity({ recordArgs: this.#recordArgs });
    this.#inUse++;
    return { name, mode, file: lockFileName(name, this.prefix), started: performance.now(), owner: me, handle, record: recordParts(name, mode, me) };
  }

  /** Run `step`; if it throws, give back the in-process `local` guard first (a local release is synchronous). */
  #orRelease<T>(local: Guard, step: () => T): T {
    try {
      return step();
    } catch (err) {
      void local.release();
      this.#notInUse(undefined);
      throw err;
    }
  }

  /** The kernel lock if it can be had without waiting. */
  #tryKernel(lock: LockRequest): KernelHold | undefined {
    if (lock.mode === 'shared') {
      const fd = this.#shares!.tryJoin(lock.file);
      return fd === undefined ? undefined : this.#sharedHold(fd, lock.file);
    }
    const grant = tryLockFile(lock.handle, grantRequest(lock.file, 'exclusive', lock.record));
    return grant === undefined ? undefined : this.#exclusiveHold(lock, grant.fd, grant.token);
  }

  #exclusiveHold(lock: LockRequest, fd: number, token: bigint | undefined): KernelHold {
    return { fd, token, release: () => unlockFile(lock.handle, fd, lock.file, true) };
  }

  async #kernelLock(lock: LockRequest, signal: AbortSignal): Promise<KernelHold> {
    if (lock.mode === 'exclusive') {
      const grant = await lockFile(lock.handle, grantRequest(lock.file, 'exclusive', lock.record), signal);
      return this.#exclusiveHold(lock, grant.fd, grant.token);
    }
    return this.#sharedHold(await this.#shares!.join(lock.file, signal), lock.file);
  }

  #sharedHold(fd: number, file: string): KernelHold {
    return { fd, token: undefined, release: () => this.#shares!.leave(file) };
  }

  /**
   * The guard, once the token (and for a shared holder its record file) are
   * in place; if either fails, everything taken so far is given back. A token
   * that must be waited for (the counter busy, or a shared holder's) is waited
   * for under `signal` (the acquire's own) or, on a fast path, a wait of its
   * own that `signal`, `timeout` and close() can end; a caller that asked not
   * to wait (`timeout` 0) waits at most COUNTER_PATIENCE_MS.
   */
  async #grant(lock: LockRequest, kernel: KernelHold, local: Guard, signal: AbortSignal | undefined, timeout: number | undefined): Promise<FileLockGuard> {
    let wait: WaitSignal | undefined;
    try {
      let token: bigint;
      if (kernel.token !== undefined) {
        token = kernel.token;
      } else {
        const exclusive = lock.mode === 'exclusive';
        const patience = timeout === 0 ? COUNTER_PATIENCE_MS : timeout;
        const label = `the fencing-token counter of ${this.path} (locked by another process far longer than a grant takes)`;
        const counterWait = this.#wait(signal, patience, label);
        wait = counterWait;
        const taken = takeToken(lock.handle, exclusive ? kernel.fd : -1, exclusive ? lock.record : undefined, counterWait.signal);
        token = typeof taken === 'bigint' ? taken : await taken.catch((err: unknown) => Promise.reject(counterWait.explain(err)));
      }
      const release = lock.mode === 'exclusive' ? kernel.release : this.#withSharedRecord(lock, token, kernel.release);
      const waitedMs = performance.now() - lock.started;
      const guard = { name: lock.name, mode: lock.mode, token, path: `${this.path}/${lock.file}`, waitedMs, quiet: this.#quiet };
      return new FileGuard(guard, this.#releasing(release), local);
    } catch (err) {
      kernel.release();
      await local.release();
      this.#notInUse(undefined);
      throw err;
    } finally {
      this.#done(wait);
    }
  }

  /** A wait that `signal`, `timeout` and close() end; #done ends it. */
  #wait(signal: AbortSignal | undefined, timeout: number | undefined, label: string): WaitSignal {
    const wait = new WaitSignal([signal], timeout, label);
    this.#waits.add(wait);
    return wait;
  }

  /** The wait is over: stop its timer and listeners, and forget it. Idempotent. */
  #done(wait: WaitSignal | undefined): void {
    if (wait === undefined) return;
    this.#waits.delete(wait);
    wait.dispose();
  }

  /** A kernel release that also ends this hold's use of the directory descriptor. */
  #releasing(release: KernelRelease): KernelRelease {
    return () => {
      try {
        return release();
      } finally {
        this.#notInUse(undefined);
      }
    };
  }

  /** A shared holder's record goes in its own file, removed before the kernel share is given back. */
  #withSharedRecord(lock: LockRequest, token: bigint, release: KernelRelease): KernelRelease {
    const record = { name: lock.name, mode: lock.mode, token, ...lock.owner, command: lock.owner.command ?? '', since: new Date() };
    const file = writeSharedRecord(lock.handle, lock.file, record, this.fileMode);
    return () => {
      removeSharedRecord(lock.handle, file);
      return release();
    };
  }

  /** One use fewer (by default); after close(), the last one closes the descriptor. Returns `value`. */
  #notInUse<T>(value: T, uses = 1): T {
    this.#inUse -= uses;
    if (this.#closing.signal.aborted) this.#forgetHandle();
    return value;
  }

  /**
   * Create the directory (marked), open its descriptor and token counter, once;
   * errors say what to fix.
   */
  #ready(): DirectoryHandle {
    if (this.#prepared) return this.#handle!;
    if (this.#closing.signal.aborted) throw this.#closing.signal.reason;
    if (this.#handle === undefined) createDirectory(this.path, this.fileMode);
    const handle = this.#open();
    try {
      adoptDirectory(handle, this.prefix, this.fileMode);
      handle.openCounter();
    } catch (err) {
      this.#forgetHandle(); // keeps nothing open (a read-only mount can still be unmounted), retried next time
      throw counterError(this.path, err);
    }
    this.#prepared = true;
    return handle;
  }

  /** The descriptor for list() and clean(), which never create or mark anything. */
  #inspect(): DirectoryHandle {
    if (this.#closing.signal.aborted) throw this.#closing.signal.reason;
    if (this.#prepared) return this.#handle!;
    const handle = this.#open();
    try {
      requireLockDirectory(handle, this.prefix);
    } catch (err) {
      this.#forgetHandle();
      throw err;
    }
    return handle;
  }

  /** Close the descriptor if nothing uses it. */
  #forgetHandle(): void {
    if (this.#inUse > 0 || this.#handle === undefined) return;
    this.#handle.close();
    this.#handle = undefined;
    this.#prepared = false;
  }

  /** The directory's descriptor, opened once and kept; close() releases it once nothing uses it. */
  #open(): DirectoryHandle {
    if (this.#handle !== undefined) return this.#handle;
    this.#handle = DirectoryHandle.open(this.path, { fileMode: this.fileMode, cleanup: this.cleanup === 'on-release' });
    this.#shares = new SharedHolds(this.#handle);
    return this.#handle;
  }
}

function checkPath(path: unknown): string {
  if (path === undefined) path = process.env[ENV_PATH] || undefined;
  if (path === undefined) {
    throw new ConfigurationError(
      `no lock directory: pass one to new LockDirectory(path) or set ${ENV_PATH}. ` +
        'There is no temporary-directory default on purpose: every process that shares these locks must use the same ' +
        'directory, and a per-user or per-boot temporary directory would quietly give different processes different locks.',
    );
  }
  if (typeof path !== 'string' || path.length === 0) throw invalidType('path', 'a non-empty directory path', path);
  if (path.includes('\0')) throw invalidRange('path', 'a path without NUL characters', path);
  return path;
}

/** Nothing at `path` (a path through a file is not "nothing": opening it says ENOTDIR). */
function missing(path: string): boolean {
  try {
    lstatSync(path);
    return false;
  } catch (err) {
    return (err as { code?: string }).code === 'ENOENT';
  }
}

function checkCleanup(cleanup: unknown): 'on-release' | 'never' {
  if (cleanup === undefined || cleanup === 'on-release') return 'on-release';
  if (cleanup === 'never') return 'never';
  throw invalidType('options.cleanup', `'on-release' or 'never'`, cleanup);
}

function checkFileMode(mode: unknown): number {
  if (mode === undefined) return 0o600;
  if (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0 || mode > 0o777) {
    throw invalidType('options.fileMode', 'permission bits such as 0o600 or 0o660', mode);
  }
  if ((mode & 0o600) !== 0o600) throw invalidRange('options.fileMode', 'a mode the owner can read and write (0o600 at least)', mode);
  if ((mode & 0o002) !== 0) throw invalidRange('options.fileMode', 'a mode others cannot write (world-writable lock files let anyone forge records and reset tokens)', mode);
  return mode;
}

/**
 * Create the lock directory if needed: 0700, or for a group fileMode 2770
 * (setgid, so files keep the directory's group). Parents that are missing are
 * created 0755. Existing directories are left as they are.
 */
function createDirectory(path: string, fileMode: number): void {
  if (existsSync(path)) return;
  try {
    mkdirRecursive(dirname(path), 0o755);
    const group = (fileMode & 0o060) !== 0;
    mkdirSync(path, { mode: group ? 0o770 : 0o700 });
    if (group) chmodSync(path, 0o2770);
  } catch (err) {
    if ((err as { code?: string }).code === 'EEXIST') return;
    throw directoryError(path, err);
  }
}

/**
 * `mkdir -p`, but failing with the real reason: Node's recursive mkdir reports
 * ENOENT for a parent it could not create (read-only file system, no permission).
 */
function mkdirRecursive(path: string, mode: number): void {
  if (existsSync(path)) return;
  const parent = dirname(path);
  if (parent !== path) mkdirRecursive(parent, mode);
  try {
    mkdirSync(path, { mode });
  } catch (err) {
    if ((err as { code?: string }).code !== 'EEXIST') throw err;
  }
}

function counterError(path: string, raw: unknown): unknown {
  // openCounter()'s raw refusal (a symlink, FIFO, hard link, foreign file) becomes deadbolt's error naming the
  // counter; what adoptDirectory threw is converted already, and passes through unchanged.
  const err = converted(raw, 'opening the fencing-token counter', path, TOKEN_FILE);
  const errno = (err as { errno?: unknown }).errno;
  if (errno === 'EACCES' || errno === 'EPERM') return directoryError(path, err);
  if (errno === 'EROFS') return directoryError(path, err);
  return err;
}

function directoryError(path: string, err: unknown): ConfigurationError {
  // Node's fs errors carry the symbolic name in `code`; NativeError in `errno`.
  const { code: fsCode, errno } = err as { code?: unknown; errno?: unknown };
  const code = typeof errno === 'string' ? errno : typeof fsCode === 'string' ? fsCode : undefined;
  const what: Record<string, string> = {
    ENOTDIR: 'is not a directory (or a parent of it is a file)',
    EEXIST: 'is not a directory',
    EACCES: 'is not writable by this user: fix its permissions or pick another directory',
    EPERM: 'is not writable by this user: fix its permissions or pick another directory',
    EROFS: 'is on a read-only file system: pick a directory on a writable one (e.g. under /run or /var/lib)',
    ENOENT: 'cannot be created: a parent directory is missing',
    ENOSPC: 'cannot be written: the file system is full',
  };
  const reason = (code && what[code]) ?? `cannot be used (${code ?? String(err)})`;
  return new ConfigurationError(`lock directory ${path} ${reason}`, { cause: err });
}
