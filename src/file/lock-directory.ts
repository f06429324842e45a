/**
 * LockDirectory: named locks shared by the processes of one host, as files in
 * one directory, on kernel OFD locks (what oslo.concurrency calls external locks).
 *
 * Two levels (DESIGN.md §1): a caller first queues in this process's keyed RW
 * lock, so one process has at most one kernel waiter per name; then it takes the
 * kernel lock (file-lock.ts), a fencing token (token-counter.ts) and writes its
 * holder record (holder-record.ts); for an exclusive lock all three happen in
 * one native step, on the wait thread when it had to wait. Same-process shared
 * holders share one kernel shared lock (shared-hold.ts) and take a token each.
 *
 * @module
 */
import { accessSync, constants, existsSync, mkdirSync, statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { ConfigurationError, LockTimeoutError, NativeError, invalidRange, invalidType } from '../errors.js';
import { WaitSignal } from '../internal/wait-signal.js';
import { processIdentity } from '../internal/identity.js';
import { checkAcquireOptions, checkFunction, checkMode } from '../internal/validate.js';
import { runHolding, type Guard } from '../local/guard.js';
import { KeyedRWLock } from '../local/keyed.js';
import type { AcquireOptions } from '../local/rw-lock.js';
import type { LockOwner } from '../local/fenced-guard.js';
import { cleanDirectory, type CleanOptions, type CleanReport } from './clean.js';
import { FileGuard, type FileLockGuard, type KernelRelease } from './file-guard.js';
import { lockFile, tryLockFile, unlockFile, type GrantSpec } from './file-lock.js';
import { recordParts, removeSharedRecord, writeSharedRecord } from './holder-record.js';
import { listDirectory, type LockFileInfo } from './list.js';
import { checkLockName, checkPrefix, lockFileName } from './lock-name.js';
import { SharedHolds } from './shared-hold.js';
import { TokenCounter } from './token-counter.js';

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
   * Name files as oslo.concurrency does: `<prefix>-<name>`, `/` → `_`. Without a
   * prefix, names are percent-encoded where a file name can't hold them.
   */
  prefix?: string;
  /**
   * `'on-release'` (default): delete the lock file on release, safely (inode
   * re-check). `'never'`: keep files, as oslo does; required when real
   * oslo.concurrency processes share the directory (they don't re-check).
   */
  cleanup?: 'on-release' | 'never';
  /** Permission bits of new lock files (default `0o644`, then the umask). */
  fileMode?: number;
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

/** One acquire in progress: what to lock, for whom, and what the grant takes. */
interface LockRequest {
  name: string;
  mode: 'exclusive' | 'shared';
  path: string;
  started: number;
  owner: LockOwner;
  counter: TokenCounter;
  grant: GrantSpec;
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
 * in-process queue at once, or, if it is already waiting in the kernel, its
 * native wait is interrupted within about a millisecond; either way nothing is
 * held afterwards.
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
  readonly #keyed = new KeyedRWLock<string>();
  readonly #shares: SharedHolds;
  #counter: TokenCounter | undefined;

  /**
   * @param path - the lock directory; defaults to `DEADBOLT_LOCK_PATH`. Created on first use.
   * @throws ConfigurationError when neither is given.
   */
  constructor(path?: string, options: LockDirectoryOptions = {}) {
    this.path = resolve(checkPath(path));
    if (options === null || typeof options !== 'object') throw invalidType('options', 'an object', options);
    this.prefix = checkPrefix(options.prefix);
    this.cleanup = checkCleanup(options.cleanup);
    this.fileMode = checkFileMode(options.fileMode);
    this.#quiet = options.quiet === true;
    this.#shares = new SharedHolds(this.cleanup === 'on-release');
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
    const { mode, signal, timeout } = checkAcquireOptions(options);
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
  async tryAcquire(name: string, options?: { mode?: 'exclusive' | 'shared' }): Promise<FileLockGuard | undefined> {
    const owner = (options as OwnedAcquireOptions | undefined)?.owner;
    checkLockName(name);
    const mode = checkMode(options?.mode, 'options.mode');
    const lock = this.#request(name, mode, owner);
    const local = this.#keyed.tryAcquire(lock.path, { mode });
    if (local === undefined) return undefined;
    const kernel = this.#orRelease(local, () => this.#tryKernel(lock));
    if (kernel === undefined) {
      await local.release();
      return undefined;
    }
    return this.#grant(lock, kernel, local);
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
   * the kernel), its holder record when held, and its age.
   *
   * @example
   * ```ts
   * for (const f of await locks.list()) console.log(f.name, f.state, f.holder?.owner.pid);
   * ```
   */
  list(): Promise<LockFileInfo[]> {
    return listDirectory(this.path, this.prefix);
  }

  /**
   * Remove unused lock files, safely while other processes use the directory:
   * each file is removed only under a non-blocking exclusive lock, after an
   * inode re-check. Reports what was removed and what was skipped, and why.
   *
   * @example
   * ```ts
   * const { removed, skipped } = await locks.clean({ olderThan: 3_600_000 });
   * ```
   */
  clean(options?: CleanOptions): Promise<CleanReport> {
    return cleanDirectory(this.path, options);
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
   * Reject every waiter of this instance, and later calls, with ClosedError.
   * Held guards stay valid until released.
   *
   * @example
   * ```ts
   * locks.close();
   * ```
   */
  close(reason?: unknown): void {
    this.#keyed.close(reason);
  }

  async #acquire(
    name: string,
    mode: 'exclusive' | 'shared',
    signal: AbortSignal | undefined,
    timeout: number | undefined,
    owner: LockOwner | undefined,
  ): Promise<FileLockGuard> {
    if (signal?.aborted) throw signal.reason;
    const lock = this.#request(name, mode, owner);
    // Fast path: free in-process and in the kernel, no timer or signal needed.
    let local = this.#keyed.tryAcquire(lock.path, { mode });
    let kernel = local && this.#orRelease(local, () => this.#tryKernel(lock));
    if (!kernel) {
      if (timeout === 0) {
        await local?.release();
        throw new LockTimeoutError(`lock "${name}" in ${this.path} is held and timeout is 0`, 0);
      }
      const wait = new WaitSignal([signal], timeout, `lock "${name}" in ${this.path}`);
      try {
        local ??= await this.#keyed.acquire(lock.path, { mode, signal: wait.signal });
        kernel = await this.#kernelLock(lock, wait.signal);
      } catch (err) {
        await local?.release();
        throw wait.explain(err);
      } finally {
        wait.dispose();
      }
    }
    return this.#grant(lock, kernel, local!);
  }

  /**
   * One acquire's particulars. An exclusive grant takes its token and writes
   * its record together with the kernel lock; a shared hold is one kernel lock
   * for many holders, so each shared holder takes its token in #grant.
   */
  #request(name: string, mode: 'exclusive' | 'shared', owner: LockOwner | undefined): LockRequest {
    const counter = this.#ready();
    const me = owner ?? processIdentity();
    const grant: GrantSpec = mode === 'exclusive' ? { counter, record: recordParts(name, mode, me) } : {};
    return { name, mode, path: this.#lockPath(name), started: performance.now(), owner: me, counter, grant };
  }

  /** Run `step`; if it throws, give back the in-process `local` guard first (a local release is synchronous). */
  #orRelease<T>(local: Guard, step: () => T): T {
    try {
      return step();
    } catch (err) {
      void local.release();
      throw err;
    }
  }

  #lockPath(name: string): string {
    return `${this.path}/${lockFileName(name, this.prefix)}`;
  }

  /** The kernel lock if it can be had without waiting. */
  #tryKernel(lock: LockRequest): KernelHold | undefined {
    if (lock.mode === 'shared') {
      const fd = this.#shares.tryJoin(lock.path, this.fileMode);
      return fd === undefined ? undefined : this.#sharedHold(fd, lock.path);
    }
    const grant = tryLockFile(lock.path, 'exclusive', this.fileMode, lock.grant);
    return grant === undefined ? undefined : this.#exclusiveHold(grant.fd, grant.token, lock.path);
  }

  #exclusiveHold(fd: number, token: bigint | undefined, path: string): KernelHold {
    const cleanup = this.cleanup === 'on-release';
    return { fd, token, release: () => unlockFile(fd, path, 'exclusive', cleanup) };
  }

  async #kernelLock(lock: LockRequest, signal: AbortSignal): Promise<KernelHold> {
    if (lock.mode === 'exclusive') {
      const cleanup = this.cleanup === 'on-release';
      const grant = await lockFile(lock.path, 'exclusive', this.fileMode, signal, { ...lock.grant, cleanup });
      return this.#exclusiveHold(grant.fd, grant.token, lock.path);
    }
    return this.#sharedHold(await this.#shares.join(lock.path, this.fileMode, signal), lock.path);
  }

  #sharedHold(fd: number, path: string): KernelHold {
    return { fd, token: undefined, release: () => this.#shares.leave(path) };
  }

  /**
   * The guard, once the token (and for a shared holder its record file) are
   * in place; if either fails, everything taken so far is given back.
   */
  async #grant(lock: LockRequest, kernel: KernelHold, local: Guard): Promise<FileLockGuard> {
    try {
      // Usually already taken with the kernel lock; otherwise the counter was busy, or this is a shared hold.
      const token = kernel.token ?? (await lock.counter.next(lock.grant.record ? kernel.fd : -1, lock.grant.record));
      const release = lock.mode === 'exclusive' ? kernel.release : this.#withSharedRecord(lock, token, kernel.release);
      const waitedMs = performance.now() - lock.started;
      return new FileGuard({ name: lock.name, mode: lock.mode, token, path: lock.path, waitedMs, quiet: this.#quiet }, release, local);
    } catch (err) {
      kernel.release();
      await local.release();
      throw err;
    }
  }

  /** A shared holder's record goes in its own file, removed before the kernel share is given back. */
  #withSharedRecord(lock: LockRequest, token: bigint, release: KernelRelease): KernelRelease {
    const record = { name: lock.name, mode: lock.mode, token, ...lock.owner, command: lock.owner.command ?? '', since: new Date() };
    const recordPath = writeSharedRecord(this.path, basename(lock.path), record, this.fileMode);
    return () => {
      removeSharedRecord(recordPath);
      return release();
    };
  }

  /** Create the directory and open the token counter, once; errors say what to fix. */
  #ready(): TokenCounter {
    if (this.#counter !== undefined) return this.#counter;
    ensureDirectory(this.path);
    try {
      this.#counter = new TokenCounter(this.path, this.fileMode);
    } catch (err) {
      throw directoryError(this.path, err);
    }
    return this.#counter;
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

function checkCleanup(cleanup: unknown): 'on-release' | 'never' {
  if (cleanup === undefined || cleanup === 'on-release') return 'on-release';
  if (cleanup === 'never') return 'never';
  throw invalidType('options.cleanup', `'on-release' or 'never'`, cleanup);
}

function checkFileMode(mode: unknown): number {
  if (mode === undefined) return 0o644;
  if (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
    throw invalidType('options.fileMode', 'permission bits such as 0o644', mode);
  }
  if ((mode & 0o600) !== 0o600) throw invalidRange('options.fileMode', 'a mode the owner can read and write (0o600 at least)', mode);
  return mode;
}

/** Create the lock directory if needed and check it is a writable directory. */
function ensureDirectory(path: string): void {
  try {
    mkdirRecursive(path);
    if (!statSync(path).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    accessSync(path, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw directoryError(path, err);
  }
}

/**
 * `mkdir -p`, but failing with the real reason: Node's recursive mkdir reports
 * ENOENT for a parent it could not create (read-only file system, no permission).
 */
function mkdirRecursive(path: string): void {
  if (existsSync(path)) return;
  const parent = dirname(path);
  if (parent !== path) mkdirRecursive(parent);
  try {
    mkdirSync(path, { mode: 0o755 });
  } catch (err) {
    if ((err as { code?: string }).code !== 'EEXIST') throw err;
  }
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
  if (err instanceof NativeError && code === 'EMFILE') return new ConfigurationError(err.message, { cause: err });
  return new ConfigurationError(`lock directory ${path} ${reason}`, { cause: err });
}
