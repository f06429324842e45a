/**
 * What makes a directory a lock directory: the marker file
 * `.deadbolt-directory`, written by deadbolt when it creates or adopts the
 * directory.
 *
 * Why: `clean` deletes files and `ls` describes them; pointed at the wrong
 * directory by a typo or a symlinked path, neither may act. So a directory
 * is used only if it carries the marker (a regular file with one link, owned
 * by someone the directory trusts, holding the marker text or, while its
 * creator is still writing it, a prefix of it), or if the caller
 * names an oslo.concurrency prefix, and then only `<prefix>-*` files are
 * considered. deadbolt adopts (marks) an existing unmarked directory only
 * when it is empty or holds nothing but deadbolt's own bookkeeping files (a
 * directory of a deadbolt release from before the marker); anything else is
 * refused, with what to do.
 *
 * @internal
 * @module
 */
import { ConfigurationError, UnsafeFileError } from '../errors.js';
import type { DirectoryHandle } from './directory-handle.js';
import { MARKER_FILE, isBookkeeping } from './lock-name.js';

const MARKER_TEXT = 'deadbolt lock directory 1\n';

/**
 * Whether `handle` carries a valid marker.
 *
 * @throws UnsafeFileError when something unsafe (a symlink, FIFO, hard link,
 *   foreign file) or something else entirely sits at the marker's name.
 * @internal
 * @example
 * ```ts
 * if (!isMarked(handle)) console.log('not a lock directory');
 * ```
 */
export function isMarked(handle: DirectoryHandle): boolean {
  const kind = handle.stat(MARKER_FILE)?.kind;
  if (kind === undefined) return false;
  const path = `${handle.path}/${MARKER_FILE}`;
  if (kind === 'symlink') throw new UnsafeFileError(`refusing to use ${path}: it is a symbolic link; remove it and find out who created it`, path, 'symlink');
  const text = handle.read(MARKER_FILE, MARKER_TEXT.length + 1)?.toString('utf8');
  // A strict prefix (even empty) is a marker another deadbolt process has
  // created (O_EXCL) and is writing right now, or died writing: read()
  // already proved a regular file with one link and a trusted owner, so it
  // counts. Refusing it failed a process that raced a fresh directory's creator.
  if (text === undefined) return false;
  if (!MARKER_TEXT.startsWith(text)) {
    throw new UnsafeFileError(`refusing to use ${path}: it does not hold deadbolt's marker; remove it if it is not yours`, path, 'notLockFile');
  }
  return true;
}

/**
 * Make sure `handle` is a lock directory before locks are taken in it: marked
 * already, or adoptable (then marked now). With an oslo prefix nothing is
 * required or written: oslo's lock_path is shared with its services.
 *
 * @throws ConfigurationError for a directory that holds other files.
 * @internal
 * @example
 * ```ts
 * adoptDirectory(handle, undefined, 0o600);
 * ```
 */
export function adoptDirectory(handle: DirectoryHandle, prefix: string | undefined, fileMode: number): void {
  if (prefix !== undefined || isMarked(handle)) return;
  const others = handle.names().filter((name) => !isBookkeeping(name));
  // Another process may have adopted it between our look at the marker and our listing.
  if (others.length > 0 && isMarked(handle)) return;
  if (others.length > 0) throw notALockDirectory(handle.path, `it holds other files (${others.length}, e.g. ${JSON.stringify(others.sort()[0])})`);
  try {
    handle.createNew(MARKER_FILE, MARKER_TEXT, fileMode);
  } catch (err) {
    if ((err as { errno?: unknown }).errno !== 'EEXIST') throw err;
    isMarked(handle); // another process marked it meanwhile: check what it wrote
  }
}

/**
 * For the operator's commands, which never mark anything: refuse a directory
 * that is not a lock directory (no marker, no prefix).
 *
 * @throws ConfigurationError with `notLockDirectory: true`.
 * @internal
 * @example
 * ```ts
 * requireLockDirectory(handle, options.prefix);
 * ```
 */
export function requireLockDirectory(handle: DirectoryHandle, prefix: string | undefined): void {
  if (prefix !== undefined || isMarked(handle)) return;
  throw notALockDirectory(handle.path, `it has no ${MARKER_FILE} marker`);
}

function notALockDirectory(path: string, why: string): ConfigurationError {
  return Object.assign(
    new ConfigurationError(
      `${path} is not a deadbolt lock directory: ${why}. deadbolt uses (and cleans) only directories it created or ` +
        `adopted, so that a typo or a symlinked path can never make it touch other files: give a new or empty ` +
        `directory (LockDirectory creates it), or, for oslo.concurrency's lock_path, the prefix its services use`,
    ),
    { notLockDirectory: true as const },
  );
}
