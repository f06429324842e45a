/**
 * Whether a lock directory is safe for a privileged operator to act in.
 *
 * `clean` deletes and `break` signals. Run by root (or by any user other than
 * the directory's owner), they must not be steered by whoever else can write
 * the directory or one of its parents (docs/security.md): someone who can
 * rename entries in a parent can swap the lock directory for another between
 * the operator's command and its first system call, and someone who can write
 * a directory without the sticky bit can replace any file in it. So a
 * privileged command refuses, with an explanation, a lock directory that is
 * writable by others without the sticky bit, or a parent that anyone but root
 * and the lock directory's owner could write (without the sticky bit). A
 * group-writable lock directory is the documented group layout and is allowed:
 * its members are trusted to share the locks, and every file deadbolt opens
 * there is proven regular, single-link and of a trusted owner anyway.
 *
 * The parents are looked at by path (lstat), before any work: a check, not
 * the protection itself, which is the directory descriptor (directory-handle.ts).
 *
 * @internal
 * @module
 */
import { lstatSync } from 'node:fs';
import { dirname } from 'node:path';
import { UnsafeFileError } from '../errors.js';
import type { DirectoryHandle } from './directory-handle.js';

const STICKY = 0o1000;

/**
 * Whether this process acts on someone else's directory: as root, or as a
 * user other than the directory's owner.
 *
 * @internal
 * @example
 * ```ts
 * if (actsForOthers(handle)) checkDirectoryTrust(handle);
 * ```
 */
export function actsForOthers(handle: DirectoryHandle): boolean {
  const euid = process.geteuid?.() ?? -1;
  return euid === 0 || euid !== handle.self.uid;
}

/**
 * Refuse a directory that others could swap or fill (see the module note).
 *
 * @throws UnsafeFileError (reason `untrustedDirectory`) naming the directory and why.
 * @internal
 * @example
 * ```ts
 * checkDirectoryTrust(handle);
 * ```
 */
export function checkDirectoryTrust(handle: DirectoryHandle): void {
  const { mode, uid } = handle.self;
  if ((mode & 0o002) !== 0 && (mode & STICKY) === 0) {
    throw untrusted(handle.path, `it is writable by every user (mode ${octal(mode)}) without the sticky bit, so anyone can replace the files in it`);
  }
  for (let dir = dirname(handle.path); ; dir = dirname(dir)) {
    const why = parentProblem(dir, uid);
    if (why !== undefined) throw untrusted(handle.path, `its parent ${dir} ${why}, so someone else could swap the lock directory for another`);
    if (dirname(dir) === dir) return;
  }
}

function parentProblem(dir: string, ownerUid: number): string | undefined {
  let stats;
  try {
    stats = lstatSync(dir);
  } catch {
    return 'cannot be examined';
  }
  const mode = stats.mode & 0o7777;
  if (stats.uid !== 0 && stats.uid !== ownerUid) return `is owned by uid ${stats.uid} (neither root nor the lock directory's owner)`;
  if ((mode & STICKY) !== 0) return undefined;
  if ((mode & 0o002) !== 0) return `is writable by every user (mode ${octal(mode)})`;
  if ((mode & 0o020) !== 0 && stats.gid !== 0) return `is writable by group ${stats.gid} (mode ${octal(mode)})`;
  return undefined;
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

function untrusted(path: string, why: string): UnsafeFileError {
  return new UnsafeFileError(
    `refusing to act in lock directory ${path} as a privileged user: ${why}. Make the directory and its parents writable ` +
      'only by root and the lock directory\'s owner (recommended: /run/<service>/locks, mode 0700 or a 2770 group layout; ' +
      'docs/security.md), or pass --trust-directory if you have checked who can write them',
    path,
    'untrustedDirectory',
  );
}
