/**
 * A lock directory's one descriptor, and every file operation made through it.
 *
 * Why one descriptor (docs/security.md): a lock directory may be writable, or
 * only readable, by users the caller does not trust. A path string resolved
 * anew for each operation lets whoever owns a parent swap the directory for a
 * symlink between two calls (root's `clean` would then delete files
 * elsewhere). So a `DirectoryHandle` opens the directory once
 * (`O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC`), and every open, stat, unlink, read and
 * write of a lock file, the counter, a shared record or the audit log is an
 * `*at()` call relative to it that never follows a symlink and never blocks on a
 * FIFO. After every open, `fstat` proves a regular file with one link, not
 * world-writable, owned by someone the directory trusts (its owner, this
 * process's user, or, when the directory is group-writable, its group);
 * anything else is an UnsafeFileError naming the file (native/directory.h).
 *
 * @internal
 * @module
 */
import { lstatSync } from 'node:fs';

import { ConfigurationError } from '../errors.js';
import { addon, errnoOf, type RawLockDir } from './addon.js';
import { converted } from './native-errors.js';

/** `how` values of RawLockDir.open (native/lock_dir.cc). */
const OPEN = { read: 0, readWrite: 1, append: 2, createNew: 3 } as const;
/** File types as fstatat reports them (S_IFMT bits). */
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

/**
 * What is at a name, without opening it (`fstatat`, not following symlinks).
 *
 * @internal
 * @example
 * ```ts
 * const s: EntryStat = handle.stat('jobs')!; if (s.kind === 'file' && s.nlink === 1) …
 * ```
 */
export interface EntryStat {
  kind: 'file' | 'directory' | 'symlink' | 'other';
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  size: number;
  mtimeMs: number;
  dev: number;
  ino: number;
}

/**
 * How a lock directory's files are made and given back.
 *
 * @internal
 * @example
 * ```ts
 * const policy: FilePolicy = { fileMode: 0o600, cleanup: true };
 * ```
 */
export interface FilePolicy {
  /** Permission bits of files deadbolt creates (the umask applies). */
  readonly fileMode: number;
  /** Delete lock files on release. */
  readonly cleanup: boolean;
}

/**
 * An open lock directory.
 *
 * @internal
 * @example
 * ```ts
 * const handle = DirectoryHandle.open('/run/myapp/locks', { fileMode: 0o600, cleanup: true });
 * try { console.log(handle.names()); } finally { handle.close(); }
 * ```
 */
export class DirectoryHandle {
  /** The directory's path as given (for messages only: never resolved again). */
  readonly path: string;
  /** The addon's descriptor object. */
  readonly raw: RawLockDir;
  /** The directory itself, as fstat saw it when it was opened. */
  readonly self: { readonly dev: number; readonly ino: number; readonly uid: number; readonly gid: number; readonly mode: number };
  #shared: DirectoryHandle | undefined;

  private constructor(path: string, raw: RawLockDir) {
    this.path = path;
    this.raw = raw;
    this.self = raw.info();
  }

  /**
   * Open the directory at `path` (it must exist).
   *
   * @throws ConfigurationError when it is missing, not a directory or a symlink; NativeError otherwise.
   */
  static open(path: string, policy: FilePolicy): DirectoryHandle {
    const { LockDir } = addon();
    try {
      return new DirectoryHandle(path, new LockDir(path, { fileMode: policy.fileMode, cleanup: policy.cleanup }));
    } catch (err) {
      throw openError(path, err);
    }
  }

  /**
   * A subdirectory (such as `.deadbolt-shared`), trusted as this one is;
   * created with this directory's permissions if `create`. `undefined` when
   * absent and not created.
   */
  subdirectory(name: string, create: boolean): DirectoryHandle | undefined {
    const { LockDir } = addon();
    try {
      return new DirectoryHandle(`${this.path}/${name}`, new LockDir(this.raw, name, create));
    } catch (err) {
      if ((err as { errno?: unknown }).errno === errnoOf('ENOENT') && !create) return undefined;
      throw converted(err, 'opening directory', this.path, name);
    }
  }

  /** The shared holders' record folder, opened once and kept. */
  sharedRecords(name: string, create: boolean): DirectoryHandle | undefined {
    this.#shared ??= this.subdirectory(name, create);
    return this.#shared;
  }

  /** Open (creating) and verify the token counter, kept by the native side for grants. */
  openCounter(): void {
    this.#call(() => this.raw.openCounter(), 'opening the fencing-token counter');
  }

  /** What is at `name`, or `undefined` when nothing is. */
  stat(name: string): EntryStat | undefined {
    const raw = this.#call(() => this.raw.stat(name), 'looking at', name);
    if (raw === undefined) return undefined;
    const [type, mode, uid, gid, nlink, size, mtimeMs, dev, ino] = raw;
    const kind = type === S_IFREG ? 'file' : type === S_IFDIR ? 'directory' : type === S_IFLNK ? 'symlink' : 'other';
    return { kind, mode, uid, gid, nlink, size, mtimeMs, dev, ino };
  }

  /** Every entry's name (`.` and `..` excepted), in no particular order. */
  names(): string[] {
    return this.#call(() => this.raw.names(), 'listing');
  }

  /**
   * Up to `max` bytes from the start (or with `tail`, the end) of file `name`,
   * opened read-only and verified; `undefined` when it does not exist.
   */
  read(name: string, max: number, tail = false): Buffer | undefined {
    const fd = this.openFile(name, 'read');
    if (fd === undefined) return undefined;
    const a = addon();
    try {
      const offset = tail ? Math.max(0, (this.stat(name)?.size ?? 0) - max) : 0;
      return this.#call(() => a.readFd(fd, max, offset), 'reading', name);
    } finally {
      a.closeFd(fd);
    }
  }

  /** Append `text` to file `name` with one write, creating it with `mode`. */
  append(name: string, text: string, mode: number): void {
    this.#write(this.openFile(name, 'append', mode)!, text, name);
  }

  /** Create file `name` (it must not exist) holding `text`. */
  createNew(name: string, text: string, mode: number): void {
    this.#write(this.openFile(name, 'createNew', mode)!, text, name);
  }

  /**
   * A verified descriptor on file `name` (close it with addon().closeFd);
   * `undefined` when it does not exist (for `read` and `readWrite`).
   */
  openFile(name: string, how: keyof typeof OPEN, mode = 0): number | undefined {
    try {
      return this.raw.open(name, OPEN[how], mode);
    } catch (err) {
      if ((how === 'read' || how === 'readWrite') && (err as { errno?: unknown }).errno === errnoOf('ENOENT')) return undefined;
      throw converted(err, how === 'read' ? 'reading' : 'writing', this.path, name);
    }
  }

  /** Remove file `name`; `false` if it was already gone. */
  unlink(name: string): boolean {
    try {
      this.raw.unlink(name);
      return true;
    } catch (err) {
      if ((err as { errno?: unknown }).errno === errnoOf('ENOENT')) return false;
      throw converted(err, 'removing', this.path, name);
    }
  }

  /** Who holds file `name` right now, from the kernel (a snapshot). */
  state(name: string): 'free' | 'shared' | 'exclusive' | 'missing' {
    return STATES[this.#call(() => this.raw.state(name), 'reading the lock state of', name)]!;
  }

  /** Close the descriptor (waits already started keep their own). Idempotent. */
  close(): void {
    this.#shared?.close();
    this.raw.close();
  }

  #write(fd: number, text: string, name: string): void {
    const a = addon();
    try {
      this.#call(() => a.writeFd(fd, text), 'writing', name);
    } finally {
      a.closeFd(fd);
    }
  }

  #call<T>(step: () => T, what: string, name?: string): T {
    try {
      return step();
    } catch (err) {
      throw converted(err, what, this.path, name);
    }
  }
}

const STATES = ['free', 'shared', 'exclusive', 'missing'] as const;

function openError(path: string, err: unknown): unknown {
  let errno = (err as { errno?: unknown }).errno;
  // open(O_DIRECTORY|O_NOFOLLOW) answers ENOTDIR, not ELOOP, for a symlink:
  // look (for the message only) so that a symlinked path is called one.
  if (errno === errnoOf('ENOTDIR') && isSymlink(path)) errno = errnoOf('ELOOP');
  const reasons: Array<[string, string]> = [
    ['ENOENT', 'does not exist'],
    ['ENOTDIR', 'is not a directory (or a parent of it is a file)'],
    ['ELOOP', 'is a symbolic link; deadbolt opens a lock directory only by its real path, never through a symlink'],
    ['EACCES', 'cannot be opened by this user: fix its permissions or pick another directory'],
  ];
  for (const [name, reason] of reasons) {
    if (errno === errnoOf(name)) return new ConfigurationError(`lock directory ${path} ${reason}`, { cause: converted(err, 'opening lock directory', path) });
  }
  return converted(err, 'opening lock directory', path);
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
