/**
 * What `break` knows of a lock file and its directory: the file's device,
 * inode, owner and group (the holder proof compares them with what the kernel
 * says of the holder), and whether the directory is laid out for a group of
 * users. Read through the command's directory handle (fstatat, never
 * following a symlink: a symlink's own inode matches nobody's lock), like
 * every other file operation of the command.
 *
 * @module
 */
import type { DirectoryHandle } from '../file/directory-handle.js';
import type { ProvedFile } from './holder-proof.js';

/**
 * Lock file `file` of `handle`'s directory as the holder proof needs it, or
 * undefined when there is none or it is not a regular file.
 *
 * @example
 * ```ts
 * const identity = lockFileIdentity(handle, 'nightly'); // { dev: 65024, ino: 2146741, uid: 0, gid: 0 }
 * ```
 */
export function lockFileIdentity(handle: DirectoryHandle, file: string): ProvedFile | undefined {
  const stat = handle.stat(file);
  if (stat?.kind !== 'file') return undefined;
  return { dev: stat.dev, ino: stat.ino, uid: stat.uid, gid: stat.gid };
}

/**
 * Whether the lock directory is in the group layout (group-writable, as the
 * documented setgid 2770 directory is): then a holder proves itself by the
 * file's group as well as by its owner.
 *
 * @example
 * ```ts
 * proveHolder(pid, identity, { groupMode: groupLayout(handle) });
 * ```
 */
export function groupLayout(handle: DirectoryHandle): boolean {
  return (handle.self.mode & 0o020) !== 0;
}
