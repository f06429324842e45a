/**
 * What the native addon throws, turned into deadbolt's errors: a failed system
 * call becomes a NativeError naming the errno, the call, the file and what to
 * do; a refused file an UnsafeFileError; a corrupt token counter a
 * ConfigurationError. Argument errors pass through unchanged.
 *
 * @internal
 * @module
 */
import { getSystemErrorMap } from 'node:util';

import { ConfigurationError, NativeError, UnsafeFileError } from '../errors.js';
import { ofdUnsupported } from './addon.js';

/** An error as thrown by the addon (native/js_error.h). */
interface RawError extends Error {
  errno?: unknown;
  syscall?: unknown;
  unsafe?: unknown;
  nlink?: unknown;
  uid?: unknown;
  mode?: unknown;
  corrupt?: unknown;
  file?: unknown;
  counter?: unknown;
}

/**
 * Converts what the addon threw while doing `what` in lock directory
 * `directory` (on `file`, unless the addon names the file itself).
 *
 * @internal
 * @example
 * ```ts
 * try { dir.open(name, 0, 0); } catch (err) { throw converted(err, 'reading holder record', '/run/locks', name); }
 * ```
 */
export function converted(err: unknown, what: string, directory: string, file?: string): unknown {
  const raw = err as RawError;
  if (!(raw instanceof Error) || raw instanceof TypeError) return err;
  const name = typeof raw.file === 'string' ? raw.file : file;
  const path = name === undefined ? directory : `${directory}/${name}`;
  if (typeof raw.unsafe === 'string') return unsafeFile(raw, path);
  if (typeof raw.corrupt === 'string') return corruptCounter(path, raw.corrupt);
  if (typeof raw.errno === 'number' && typeof raw.syscall === 'string') {
    const doing = raw.counter === true ? 'taking a fencing token from the counter' : what;
    return systemError(raw.errno, raw.syscall, doing, path);
  }
  return err;
}

const UNSAFE_ADVICE: Record<string, (raw: RawError) => string> = {
  symlink: () => 'is a symbolic link; deadbolt never follows symlinks in a lock directory: remove it and find out who created it',
  notRegular: () => 'is not a regular file (a FIFO, socket, device or directory was put there); lock files are plain files: remove it',
  hardLinked: (raw) =>
    `has ${String(raw.nlink)} hard links, so it may be somebody else's file under another name; deadbolt never writes to, locks or deletes such a file: remove this name (\`rm\` removes only the link) and find out who created it`,
  foreignOwner: (raw) =>
    `is owned by uid ${String(raw.uid)}, whom this lock directory does not trust (only its owner, this process's user and, in a group-writable directory, its group); someone else may have planted it: remove it, and make the directory writable only by the services that share it (docs/security.md)`,
  worldWritable: (raw) =>
    `is writable by every user (mode ${Number(raw.mode).toString(8).padStart(4, '0')}), so anyone could forge its content or reset fencing tokens: remove it, or chmod o-w it if you know where it came from`,
  notLockFile: () =>
    'holds data that is not a deadbolt holder record, so it is not a lock file: deadbolt never overwrites it; use another lock name or directory, or remove it if it is yours',
};

function unsafeFile(raw: RawError, path: string): UnsafeFileError {
  const reason = raw.unsafe as UnsafeFileError['reason'];
  const advice = UNSAFE_ADVICE[reason] ?? (() => 'cannot be used safely');
  return new UnsafeFileError(`refusing to use ${path}: it ${advice(raw)}`, path, reason);
}

function corruptCounter(path: string, content: string): ConfigurationError {
  // Guessing a value could hand out a token lower than one already used.
  return new ConfigurationError(
    `the fencing-token counter ${path} is corrupt (it holds ${JSON.stringify(content.trim().slice(0, 40))}); ` +
      'deadbolt will not guess a value, since a token lower than one already handed out would defeat fencing: ' +
      'write into it a number larger than any token handed out so far (e.g. the current time in microseconds) and retry',
  );
}

/** What to do about an errno, in a few words. */
function advice(name: string, syscall: string): string {
  switch (name) {
    case 'EMFILE':
    case 'ENFILE':
      return 'too many open files: raise the limit (ulimit -n) or hold fewer locks';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied: every process sharing these locks needs read and write access to the lock directory and its lock files (check owner, mode, fileMode and umask; docs/security.md)';
    case 'ENOENT':
      return syscall === 'unlinkat'
        ? 'the lock file was removed by someone else while we held its lock: another process broke the lock-file protocol (deleted it without holding the lock); find it'
        : 'the lock directory does not exist: create it first (every process sharing these locks must use the same directory)';
    case 'ENOTDIR':
      return 'it is not a directory: check the lock directory path';
    case 'ELOOP':
      return 'a symbolic link was planted there; deadbolt never follows symlinks in a lock directory (O_NOFOLLOW). Remove it and find out who created it';
    case 'EISDIR':
      return 'a directory is in the way: remove it or choose another lock name';
    case 'EROFS':
      return 'the file system is read-only: put the lock directory on a writable file system';
    case 'ENOSPC':
    case 'EDQUOT':
      return 'no space, inodes or quota left for lock files on that file system: free some or move the lock directory';
    case 'ENAMETOOLONG':
      return 'the lock path is too long: use a shorter lock directory or lock name';
    case 'EBADF':
      return 'the descriptor is not open (the LockDirectory was closed, or a bug in the caller)';
    case 'ENOLCK':
      return 'the kernel refused a lock (lock table full, or a file system without lock support such as some network mounts): use a local file system';
    case 'EDEADLK':
      return 'the kernel detected a deadlock: release the locks you hold before waiting for this one';
    case 'EEXIST':
      return 'a file of that name exists already';
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

/**
 * The error for a failed system call while doing `what` on `path`.
 *
 * @internal
 * @example
 * ```ts
 * throw systemError(2, 'openat', 'opening lock file', '/run/locks/jobs');
 * ```
 */
export function systemError(errno: number, syscall: string, what: string, path?: string): Error {
  const [name, description] = getSystemErrorMap().get(-errno) ?? [`errno ${errno}`, 'unknown error'];
  if (name === 'EINVAL' && syscall.startsWith('fcntl(F_OFD_')) return ofdUnsupported();
  const where = path === undefined ? '' : ` ${path}`;
  const details: { errno: string; syscall: string; path?: string } = { errno: name, syscall };
  if (path !== undefined) details.path = path;
  return new NativeError(`${what}${where} failed (${syscall}: ${name}, ${description}): ${advice(name, syscall)}`, details);
}
