/**
 * One kernel shared lock carried by all same-process shared holders of a name.
 *
 * In-process shared holders are admitted together by the keyed RW lock; if each
 * opened its own fd and waited in the kernel, one process could have many kernel
 * waiters per name. Instead the first of them starts the kernel wait and the
 * others join it; the kernel lock is released when the last of them releases.
 * The kernel wait is cancelled only when every joined caller has given up.
 *
 * @internal
 * @module
 */
import type { DirectoryHandle } from './directory-handle.js';
import { grantRequest, lockFile, tryLockFile, unlockFile, type ReleaseFinding } from './grant.js';

/** The state of one name's shared kernel lock in this process. */
class SharedHold {
  fd: number | undefined;
  /** Guards currently riding on `fd`. */
  holders = 0;
  /** Callers waiting for the kernel grant. */
  waiters = 0;
  acquiring: Promise<number> | undefined;
  readonly controller = new AbortController();

  constructor(readonly file: string) {}
}

/**
 * The shared kernel locks of one lock directory, by file name.
 *
 * @internal
 * @example
 * ```ts
 * const holds = new SharedHolds(handle);
 * const fd = await holds.join('jobs', signal);
 * holds.leave('jobs');
 * ```
 */
export class SharedHolds {
  readonly #holds = new Map<string, SharedHold>();

  /** @param handle - the lock directory (its policy says whether a last release deletes the file). */
  constructor(readonly handle: DirectoryHandle) {}

  /**
   * Join (or start) the kernel shared lock for `path`. Resolves once this caller
   * holds a share, with the shared fd (for the holder record); rejects with
   * `signal.reason` if this caller gives up first.
   */
  async join(file: string, signal: AbortSignal): Promise<number> {
    let hold = this.#holds.get(file);
    if (hold === undefined) {
      hold = new SharedHold(file);
      this.#holds.set(file, hold);
    }
    if (hold.fd !== undefined) {
      hold.holders++;
      return hold.fd;
    }
    hold.acquiring ??= this.#start(hold);
    hold.waiters++;
    let fd: number;
    try {
      fd = await raceAbort(hold.acquiring, signal);
    } catch (err) {
      if (--hold.waiters === 0 && hold.fd === undefined) {
        this.#forget(hold); // later callers start afresh instead of joining a wait being cancelled
        hold.controller.abort(err);
      }
      throw err;
    }
    hold.waiters--;
    hold.holders++;
    return fd;
  }

  /** Take a share now if one is held or the kernel grants one at once; never waits. */
  tryJoin(file: string): number | undefined {
    const held = this.#holds.get(file);
    if (held !== undefined) {
      if (held.fd === undefined) return undefined; // a kernel wait is in progress: not free now
      held.holders++;
      return held.fd;
    }
    const fd = tryLockFile(this.handle, grantRequest(file, 'shared'))?.fd;
    if (fd === undefined) return undefined;
    const hold = new SharedHold(file);
    hold.fd = fd;
    hold.holders = 1;
    this.#holds.set(file, hold);
    return fd;
  }

  /** Drop one share; the last one releases the kernel lock. */
  leave(file: string): ReleaseFinding {
    const hold = this.#holds.get(file);
    if (hold === undefined || hold.fd === undefined || --hold.holders > 0) return 'same';
    this.#holds.delete(file);
    return unlockFile(this.handle, hold.fd, file, false);
  }

  #forget(hold: SharedHold): void {
    if (this.#holds.get(hold.file) === hold) this.#holds.delete(hold.file);
  }

  async #start(hold: SharedHold): Promise<number> {
    let fd: number;
    try {
      fd = (await lockFile(this.handle, grantRequest(hold.file, 'shared'), hold.controller.signal)).fd;
    } catch (err) {
      this.#forget(hold);
      throw err;
    }
    hold.fd = fd;
    if (hold.waiters === 0) {
      // Everyone left while the grant was on its way: give it straight back.
      this.#forget(hold);
      unlockFile(this.handle, fd, hold.file, false);
    }
    return fd;
  }
}

/** `promise`, or `signal.reason` as soon as `signal` aborts. */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
