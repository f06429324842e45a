/**
 * Test-only helpers over the native layer (src/file/addon.ts, directory-handle.ts).
 *
 * The addon has no bare-descriptor wait on purpose: every wait is a grant of a
 * name in a lock directory (LockDir.acquireWait). These helpers give tests the
 * few raw steps they need to prove kernel facts (OFD semantics, hand-off,
 * cancellation) through that one production API, with the addon's raw errors
 * turned into deadbolt's errors exactly as production code does (converted()).
 * They live in test/ so that nothing test-only reaches src/.
 */
import { basename, dirname } from 'node:path';

import { addon } from '../../src/file/addon.js';
import { DirectoryHandle, type FilePolicy } from '../../src/file/directory-handle.js';
import { converted, systemError } from '../../src/file/native-errors.js';

/**
 * Keep files on release and never announce waits: the nearest thing to "a
 * lock on a file" and nothing else, for tests of kernel facts.
 */
export const KEEP: FilePolicy = { fileMode: 0o600, cleanup: false };
/** LockDirectory's default policy: delete on release, waiters announce themselves. */
export const CLEANUP: FilePolicy = { fileMode: 0o600, cleanup: true };

/** Open the lock directory at `path` (it must exist). */
export function openDir(path: string, policy: FilePolicy = KEEP): DirectoryHandle {
  return DirectoryHandle.open(path, policy);
}

/** A lock path split into the directory to open and the name in it. */
export function splitPath(path: string): { dir: string; name: string } {
  return { dir: dirname(path), name: basename(path) };
}

/**
 * A new read-write descriptor (its own open file description) on lock file
 * `name`, created empty if missing; opened through the directory handle, so
 * verified (regular, one link, trusted owner) like every production open.
 */
export function openLockFd(handle: DirectoryHandle, name: string): number {
  const existing = handle.openFile(name, 'readWrite');
  if (existing !== undefined) return existing;
  handle.append(name, '', 0o600); // one write(2) of nothing: creates the file
  return handle.openFile(name, 'readWrite')!;
}

/** Run a raw step on a descriptor; a failed system call becomes a NativeError as in production. */
function call<T>(step: () => T, what: string): T {
  try {
    return step();
  } catch (err) {
    const { errno, syscall } = err as { errno?: unknown; syscall?: unknown };
    if (typeof errno === 'number' && typeof syscall === 'string') throw systemError(errno, syscall, what);
    throw err;
  }
}

/** A whole-file OFD lock on `fd`, never waiting; a conversion of a lock `fd` holds is allowed. */
export function tryLock(fd: number, mode: 'exclusive' | 'shared'): boolean {
  return call(() => addon().tryLock(fd, mode === 'exclusive'), 'locking');
}

/** Drop whatever lock `fd` holds (the descriptor stays open). */
export function unlock(fd: number): void {
  call(() => addon().unlock(fd), 'unlocking');
}

/** Close `fd` (dropping its locks). */
export function closeFd(fd: number): void {
  call(() => addon().closeFd(fd), 'closing');
}

/** A kernel wait for a name, as LockDir.acquireWait runs it. */
export interface NameWait {
  /** The granted descriptor, or `undefined` once cancelled (then nothing is held). */
  readonly promise: Promise<number | undefined>;
  /** Interrupt the wait (idempotent; a no-op once it has finished). */
  cancel(): void;
}

/**
 * Wait in the kernel for lock file `name` of `handle`, on a native wait
 * thread: no token and no record, so this is the bare lock wait of the
 * protocol (open, F_OFD_SETLKW, inode re-check). A grant is released with
 * `handle.raw.release(fd, name, exclusive)` or simply closeFd(fd).
 */
export function waitFor(handle: DirectoryHandle, name: string, mode: 'exclusive' | 'shared'): NameWait {
  let started: [Promise<[number, bigint | null] | null>, number];
  try {
    started = handle.raw.acquireWait({ name, exclusive: mode === 'exclusive', token: false, head: null, tail: null });
  } catch (err) {
    throw converted(err, 'waiting for', handle.path, name);
  }
  const [promise, id] = started;
  return {
    promise: promise.then(
      (grant) => (grant === null ? undefined : grant[0]),
      (err: unknown) => Promise.reject(converted(err, 'waiting for', handle.path, name)),
    ),
    cancel: () => addon().cancel(id),
  };
}
