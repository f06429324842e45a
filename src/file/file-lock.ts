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

/**
 * Test-only switches: skip the inode re-check (to prove the stress test can
 * fail), and wait without announcing it (so every release unlinks and every
 * hand-off goes through the orphan-and-retry path). @internal
 */
export const testHooks = { skipInodeCheck: false, silentWait: false };

/**
 * What a grant takes besides the kernel lock: a token from `counter` and, with
 * it, the holder `record` written into the lock file. Without a counter the
 * grant is the lock alone (a shared hold, taken once for many holders).
 */
export interface GrantSpec {
  counter?: native.CounterRef | undefined;
  record?: native.RecordParts | undefined;
}

/**
 * Take the lock now or return `undefined`; never waits on another holder. The
 * grant's token is `undefined` without a counter, or if the counter was busy
 * at that instant (then take it with the counter's `next()`).
 */
export function tryLockFile(path: string, mode: 'exclusive' | 'shared', fileMode: number, grant: GrantSpec = {}): native.FileGrant | undefined {
  return native.acquireNow(path, mode, fileMode, { ...grant, skipCheck: testHooks.skipInodeCheck });
}

/**
 * Take the lock, waiting on a dedicated native thread (never the threadpool),
 * which also finishes the grant (re-check, retry on an orphan, token, record)
 * before JavaScript hears of it. On abort: the kernel wait is interrupted,
 * nothing is held, and the promise rejects with `signal.reason`. `signal` must
 * be made for this call (a listener stays on it).
 */
export async function lockFile(
  path: string,
  mode: 'exclusive' | 'shared',
  fileMode: number,
  signal: AbortSignal,
  grant: GrantSpec & { cleanup: boolean },
): Promise<native.FileGrant> {
  signal.throwIfAborted();
  const now = tryLockFile(path, mode, fileMode, grant);
  if (now !== undefined) return now;
  const wait = native.acquireWait(path, mode, fileMode, { ...grant, skipCheck: testHooks.skipInodeCheck, silentWait: testHooks.silentWait });
  // The listener is left on `signal` (cancelling a finished wait is a no-op):
  // removing an EventTarget listener costs ~6 µs in a process just woken by
  // the grant, a third of the JavaScript on the hand-off path. So `signal`
  // must be made for this one wait (both callers' are), not a long-lived one.
  signal.addEventListener('abort', () => wait.cancel(), { once: true });
  const granted = await wait.promise;
  // Only an abort cancels the wait; a grant can win the race against it, and
  // is then given back as a release would.
  if (granted !== undefined && signal.aborted) unlockFile(granted.fd, path, mode, grant.cleanup);
  if (granted === undefined || signal.aborted) throw signal.reason;
  return granted;
}

/**
 * Release: with `cleanup`, unlink while holding (shared holders only when they
 * are the last), then close. Returns what was found at the path; anything but
 * `'same'` means someone else deleted or replaced the file while we held it.
 */
export function unlockFile(fd: number, path: string, mode: 'exclusive' | 'shared', cleanup: boolean): ReleaseFinding {
  return native.releaseFile(fd, path, mode, cleanup);
}
