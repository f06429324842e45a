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
import { lockFile, tryLockFile, unlockFile, type ReleaseFinding } from './file-lock.js';

/** The state of one name's shared kernel lock in this process. */
class SharedHold {
  fd: number | undefined;
  /** Guards currently riding on `fd`. */
  holders = 0;
  /** Callers waiting for the kernel grant. */
  waiters = 0;
  acquiring: Promise<number> | undefined;
  readonly controller = new AbortController();

  constructor(readonly path: string) {}
}

/** The shared kernel locks of one lock directory, by file name. */
export class SharedHolds {
  readonly #holds = new Map<string, SharedHold>();

  /** @param cleanup - delete a lock file when its last holder (in any process) releases it. */
  constructor(readonly cleanup: boolean) {}

  /**
   * Join (or start) the kernel shared lock for `path`. Resolves once this caller
   * holds a share, with the shared fd (for the holder record); rejects with
   * `signal.reason` if this caller gives up first.
   */
  async join(path: string, fileMode: number, signal: AbortSignal): Promise<number> {
    let hold = this.#holds.get(path);
    if (hold === undefined) {
      hold = new SharedHold(path);
      this.#holds.set(path, hold);
    }
    if (hold.fd !== undefined) {
      hold.holders++;
      return hold.fd;
    }
    hold.acquiring ??= this.#start(hold, fileMode);
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
  tryJoin(path: string, fileMode: number): number | undefined {
    const held = this.#holds.get(path);
    if (held !== undefined) {
      if (held.fd === undefined) return undefined; // a kernel wait is in progress: not free now
      held.holders++;
      return held.fd;
    }
    const fd = tryLockFile(path, 'shared', fileMode)?.fd;
    if (fd === undefined) return undefined;
    const hold = new SharedHold(path);
    hold.fd = fd;
    hold.holders = 1;
    this.#holds.set(path, hold);
    return fd;
  }

  /** Drop one share; the last one releases the kernel lock. */
  leave(path: string): ReleaseFinding {
    const hold = this.#holds.get(path);
    if (hold === undefined || hold.fd === undefined || --hold.holders > 0) return 'same';
    this.#holds.delete(path);
    return unlockFile(hold.fd, path, 'shared', this.cleanup);
  }

  #forget(hold: SharedHold): void {
    if (this.#holds.get(hold.path) === hold) this.#holds.delete(hold.path);
  }

  async #start(hold: SharedHold, fileMode: number): Promise<number> {
    let fd: number;
    try {
      fd = (await lockFile(hold.path, 'shared', fileMode, hold.controller.signal, { cleanup: this.cleanup })).fd;
    } catch (err) {
      this.#forget(hold);
      throw err;
    }
    hold.fd = fd;
    if (hold.waiters === 0) {
      // Everyone left while the grant was on its way: give it straight back.
      this.#forget(hold);
      unlockFile(fd, hold.path, 'shared', this.cleanup);
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
