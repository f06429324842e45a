/**
 * The kernel half of a lock-directory lock: open, lock, re-check, and on
 * release unlink-then-unlock. No queuing here: LockDirectory queues same-process
 * callers first, so at most one kernel wait per name per process reaches this.
 *
 * Protocol (DESIGN.md §3)
 * - Lock: open the file (`O_CREAT|O_NOFOLLOW|O_CLOEXEC`), take an OFD lock on the
 *   whole file, then compare `fstat(fd)` with `stat(path)` and require `nlink > 0`.
 *   A mismatch means the file was unlinked (or replaced) between our open and our
 *   grant: we hold a lock on an orphan inode that nobody else will ever look at, so
 *   we close and start over on the file now at the path.
 * - What "held" means: an OFD lock on the inode that is at the path right now.
 * - Release with cleanup: unlink while still holding the lock, then close (which
 *   drops the lock). A waiter that was blocked on this inode wakes, sees it was
 *   unlinked, and retries on a fresh file; a newcomer creates that fresh file.
 *   Either way, at most one holder per name at any time.
 * - Shared holders unlink only if a non-blocking upgrade to exclusive succeeds,
 *   i.e. if they are the last holder.
 * - Finding the path missing or replaced at release means someone broke the
 *   protocol (deleted a held lock file): reported, never hidden.
 * - Loss: the kernel lock itself cannot be taken away while our fd is open; it
 *   is released by the kernel when the process dies. The only way to "lose" it
 *   is for someone to delete or replace the file, which release detects.
 *
 * @internal
 * @module
 */
import * as native from './native.js';

/** What release found at the lock path. */
export type ReleaseFinding = 'same' | 'missing' | 'replaced' | 'unlinked';

/** Test-only switch: skip the inode re-check, to prove the stress test can fail. @internal */
export const testHooks = { skipInodeCheck: false };

/** Whether `fd` (now locked) still is the file at `path`; else it is closed. */
function stillAtPath(fd: number, path: string): boolean {
  let same: boolean;
  try {
    same = testHooks.skipInodeCheck || native.checkIdentity(fd, path) === 'same';
  } catch (err) {
    native.closeFd(fd); // not a regular file, or stat failed: hold nothing
    throw err;
  }
  if (!same) native.closeFd(fd); // drops our lock on the orphan inode
  return same;
}

/** Take the lock now or return `undefined`; never waits on another holder. */
export function tryLockFile(path: string, mode: 'exclusive' | 'shared', fileMode: number): number | undefined {
  for (;;) {
    const fd = native.openLockFile(path, fileMode);
    let locked = false;
    try {
      locked = native.tryLock(fd, mode);
    } finally {
      if (!locked) native.closeFd(fd);
    }
    if (!locked) return undefined;
    if (stillAtPath(fd, path)) return fd;
  }
}

/**
 * Take the lock, waiting on a dedicated native thread (never the threadpool).
 * On abort: the kernel wait is interrupted, nothing is held, and the promise
 * rejects with `signal.reason`.
 */
export async function lockFile(path: string, mode: 'exclusive' | 'shared', fileMode: number, signal: AbortSignal): Promise<number> {
  for (;;) {
    signal.throwIfAborted();
    const fd = tryLockFile(path, mode, fileMode) ?? (await waitForLock(path, mode, fileMode, signal));
    if (fd !== undefined) return fd;
  }
}

/** One kernel wait on the file at `path`; `undefined` if it turned out to be an orphan. */
async function waitForLock(path: string, mode: 'exclusive' | 'shared', fileMode: number, signal: AbortSignal): Promise<number | undefined> {
  const fd = native.openLockFile(path, fileMode);
  let wait: native.LockWait;
  try {
    wait = native.lock(fd, mode);
  } catch (err) {
    native.closeFd(fd);
    throw err;
  }
  const cancel = () => wait.cancel();
  signal.addEventListener('abort', cancel, { once: true });
  let granted: boolean;
  try {
    granted = await wait.promise;
  } catch (err) {
    native.closeFd(fd);
    throw err;
  } finally {
    signal.removeEventListener('abort', cancel);
  }
  // A grant can win the race against the cancel: closing the fd gives it back.
  if (!granted || signal.aborted) {
    native.closeFd(fd);
    throw signal.reason;
  }
  return stillAtPath(fd, path) ? fd : undefined;
}

/**
 * Release: with `cleanup`, unlink while holding (shared holders only when they
 * are the last), then close. Returns what was found at the path; anything but
 * `'same'` means someone else deleted or replaced the file while we held it.
 */
export function unlockFile(fd: number, path: string, mode: 'exclusive' | 'shared', cleanup: boolean): ReleaseFinding {
  try {
    const finding = native.checkIdentity(fd, path);
    if (cleanup && finding === 'same' && (mode === 'exclusive' || native.tryLock(fd, 'exclusive'))) {
      try {
        native.unlinkPath(path);
      } catch (err) {
        if ((err as { errno?: string }).errno === 'ENOENT') return 'missing'; // deleted in between: a protocol breach
        throw err;
      }
    }
    return finding;
  } finally {
    native.closeFd(fd);
  }
}
