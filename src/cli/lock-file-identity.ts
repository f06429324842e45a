/**
 * What `break` knows of a lock file and its directory from the file system:
 * the file's device, inode, owner and group (the holder proof compares them
 * with what the kernel says of the holder), and whether the directory is laid
 * out for a group of users.
 *
 * Read by path with lstat for now (a symbolic link is never followed: its own
 * inode matches nobody's lock). This is the one place to change when the
 * commands work through the lock directory's handle: the values then come from
 * fstat of the file opened relative to that handle.
 *
 * @module
 */
import { lstatSync } from 'node:fs';
import type { ProvedFile } from './holder-proof.js';

/**
 * The lock file at `path` as the holder proof needs it, or undefined when
 * there is none or it is not a regular file.
 *
 * @example
 * ```ts
 * const file = lockFileIdentity('/run/locks/nightly'); // { dev: 65024n, ino: 2146741n, uid: 0, gid: 0 }
 * ```
 */
export function lockFileIdentity(path: string): ProvedFile | undefined {
  let stat;
  try {
    stat = lstatSync(path, { bigint: true });
  } catch {
    return undefined;
  }
  if (!stat.isFile()) return undefined;
  return { dev: stat.dev, ino: stat.ino, uid: Number(stat.uid), gid: Number(stat.gid) };
}

/**
 * Whether the lock directory is in the group layout (group-writable, as the
 * documented setgid 2770 directory is): then a holder proves itself by the
 * file's group as well as by its owner.
 *
 * @example
 * ```ts
 * proveHolder(pid, file, { groupMode: groupLayout('/run/locks') });
 * ```
 */
export function groupLayout(directory: string): boolean {
  try {
    return (lstatSync(directory).mode & 0o020) !== 0;
  } catch {
    return false;
  }
}
