/**
 * The kernel half of a lock-directory lock: open, lock, re-check, the fencing
 * token, the holder record, and on release unlink-then-unlock. No queuing here:
 * LockDirectory queues same-process callers first, so at most one kernel wait
 * per name per process reaches this. The steps themselves are native
 * (native/grant.h), all through the directory's one descriptor.
 *
 * Protocol (DESIGN.md §3)
 * - Lock: open the file (`O_CREAT|O_NOFOLLOW|O_NONBLOCK`, then fstat proves a
 *   regular file, one link, a trusted owner), take an OFD lock on it, then
 *   compare `fstat(fd)` with `fstatat(dir, name)` and require `nlink > 0`. A
 *   mismatch means the file was unlinked (or replaced) between our open and our
 *   grant: we hold a lock on an orphan inode that nobody else will ever look
 *   at, so we close and start over on the file now at the name.
 * - What "held" means: an OFD lock on the inode that is at the name right now.
 * - Tokens: one counter per directory (`.deadbolt-tokens`, 20 digits), taken
 *   under its own OFD lock right after the grant, in the same native step when
 *   possible; {@link takeToken} is the one place JavaScript asks for one. Each
 *   grant of a name happens after the previous grant of that name took its
 *   token, so tokens strictly increase per name (and across the directory), and
 *   survive file deletion and restarts.
 * - Release with cleanup: unlink while still holding the lock, then close
 *   (which drops the lock), unless another process announced it is waiting for
 *   the file (native/ofd.h): then the file is left for it. Shared holders
 *   unlink only if a non-blocking upgrade to exclusive succeeds.
 * - Finding the name missing or replaced at release means someone broke the
 *   protocol (deleted a held lock file): reported, never hidden.
 * - Loss: the kernel lock cannot be taken away while our fd is open; it is
 *   released by the kernel when the process dies.
 *
 * @internal
 * @module
 */
import { addon, type GrantRequest, type RawGrant } from './addon.js';
import type { DirectoryHandle } from './directory-handle.js';
import { converted } from './native-errors.js';
import type { RecordParts } from './holder-record.js';

/** What release found at the lock name. */
export type ReleaseFinding = 'same' | 'missing' | 'replaced' | 'unlinked';
const IDENTITY = ['same', 'missing', 'replaced', 'unlinked'] as const;

/**
 * A granted lock file: its descriptor and, if the grant took one, its fencing
 * token (`undefined` when none was asked, or the counter was busy at that
 * instant: then finish with {@link takeToken}).
 *
 * @internal
 * @example
 * ```ts
 * const grant: FileGrant | undefined = tryLockFile(handle, request('jobs', 'exclusive', parts));
 * ```
 */
export interface FileGrant {
  readonly fd: number;
  readonly token: bigint | undefined;
}

/**
 * The request for lock file `file` in `mode`: with `record`, the grant takes a
 * token and writes the record; without, it is the kernel lock alone (a shared
 * hold, taken once for many holders, each of whom takes its own token).
 *
 * @internal
 * @example
 * ```ts
 * grantRequest('jobs', 'exclusive', recordParts('jobs', 'exclusive', owner));
 * ```
 */
export function grantRequest(file: string, mode: 'exclusive' | 'shared', record?: RecordParts): GrantRequest {
  return { name: file, exclusive: mode === 'exclusive', token: record !== undefined, head: record?.head ?? null, tail: record?.tail ?? null };
}

function toGrant(raw: RawGrant): FileGrant {
  return { fd: raw[0], token: raw[1] ?? undefined };
}

/** Take the lock now or return `undefined`; never waits on another holder. */
export function tryLockFile(handle: DirectoryHandle, request: GrantRequest): FileGrant | undefined {
  let raw: RawGrant | undefined;
  try {
    raw = handle.raw.acquireNow(request);
  } catch (err) {
    throw converted(err, 'locking', handle.path, request.name);
  }
  return raw === undefined ? undefined : toGrant(raw);
}

/**
 * Start a native wait (`start`) and settle it: the value, or `signal.reason`
 * once aborted. An abort cancels the native wait (the kernel wait is
 * interrupted within about a millisecond); a result that wins the race
 * against the abort is handed to `giveBack`.
 *
 * The listener is left on `signal` (cancelling a finished wait is a no-op):
 * removing an EventTarget listener costs ~6 µs in a process just woken by the
 * grant, a third of the JavaScript on the hand-off path. So `signal` must be
 * made for this one wait (every caller's is), not a long-lived one.
 */
async function nativeWait(
  start: () => [Promise<RawGrant | null>, number],
  signal: AbortSignal,
  giveBack: (grant: RawGrant) => void,
): Promise<RawGrant> {
  signal.throwIfAborted();
  const [promise, id] = start();
  const a = addon();
  signal.addEventListener('abort', () => a.cancel(id), { once: true });
  const result = await promise;
  if (result !== null && signal.aborted) giveBack(result);
  if (result === null || signal.aborted) throw signal.reason;
  return result;
}

/**
 * Take the lock, waiting on a dedicated native thread (never the threadpool),
 * which also finishes the grant (re-check, retry on an orphan, token, record)
 * before JavaScript hears of it. On abort: the kernel wait is interrupted,
 * nothing is held, and the promise rejects with `signal.reason`.
 */
export async function lockFile(handle: DirectoryHandle, request: GrantRequest, signal: AbortSignal): Promise<FileGrant> {
  const now = tryLockFile(handle, request);
  if (now !== undefined) return now;
  const failed = (err: unknown) => converted(err, 'waiting for the lock', handle.path, request.name);
  const raw = await nativeWait(
    () => handle.raw.acquireWait(request),
    signal,
    ([fd]) => unlockFile(handle, fd, request.name, request.exclusive),
  ).catch((err: unknown) => {
    throw signal.aborted ? err : failed(err);
  });
  return toGrant(raw);
}

/**
 * The next fencing token, and `record` (if any) written into the held lock
 * file `fd`: at once unless another process is inside its microseconds-long
 * increment, else on a native thread, cancellable by `signal` (which must be
 * made for this call, see {@link nativeWait}).
 */
export function takeToken(handle: DirectoryHandle, fd: number, record: RecordParts | undefined, signal: AbortSignal): bigint | Promise<bigint> {
  const head = record?.head ?? null;
  const tail = record?.tail ?? null;
  let now: bigint | null;
  try {
    now = handle.raw.tokenNow(fd, head, tail);
  } catch (err) {
    throw converted(err, 'taking a fencing token', handle.path);
  }
  if (now !== null) return now;
  return nativeWait(() => handle.raw.tokenWait(fd, head, tail), signal, () => {}).then(
    (raw) => raw[1]!,
    (err: unknown) => {
      throw signal.aborted ? err : converted(err, 'taking a fencing token', handle.path);
    },
  );
}

/**
 * Release: with cleanup, unlink while holding (shared holders only when they
 * are the last), then close. Returns what was found at the name; anything but
 * `'same'` means someone else deleted or replaced the file while we held it.
 */
export function unlockFile(handle: DirectoryHandle, fd: number, file: string, exclusive: boolean): ReleaseFinding {
  try {
    return IDENTITY[handle.raw.release(fd, file, exclusive)]!;
  } catch (err) {
    throw converted(err, 'releasing', handle.path, file);
  }
}
