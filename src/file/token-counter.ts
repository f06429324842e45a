/**
 * Fencing tokens for a lock directory.
 *
 * A lock file is deleted on release, so it cannot carry its name's counter.
 * Instead one counter file per directory (`.deadbolt-tokens`) hands out tokens
 * for every name: a holder, after its lock is granted, takes the counter's own
 * OFD lock (held for a few microseconds), reads, increments, writes, unlocks.
 * Each grant of a name happens after the previous grant of that name took its
 * token, so tokens are strictly increasing per name (and across the directory).
 * The counter lives in the page cache and on disk: it survives the deletion of
 * lock files and restarts of every process (not a loss of the disk itself, as
 * no fsync is made).
 *
 * A process killed while holding the counter lock loses nothing: the kernel
 * drops the lock and the write either happened or not.
 *
 * Format: the last token handed out, as 20 decimal digits and a newline
 * (readable and, in an emergency, writable by an operator). The increment
 * itself is native (native/grant.cc), so a wait thread can take the token
 * for a grant it finishes there.
 *
 * @internal
 * @module
 */
import { join } from 'node:path';
import { TOKEN_FILE } from './lock-name.js';
import * as native from './native.js';

/**
 * The token counter of one lock directory. This thread's descriptor stays
 * open; wait threads open their own, because an OFD lock belongs to the open
 * file description and two threads sharing one would both "hold" it.
 */
export class TokenCounter implements native.CounterRef {
  readonly path: string;
  readonly fd: number;
  readonly #fileMode: number;

  constructor(directory: string, fileMode: number) {
    this.path = join(directory, TOKEN_FILE);
    this.fd = native.openLockFile(this.path, fileMode);
    this.#fileMode = fileMode;
  }

  /**
   * The next token, and the record (if any) written into the held lock file
   * `fd`. Synchronous unless another process is inside its increment right now.
   */
  next(fd = -1, record?: native.RecordParts): bigint | Promise<bigint> {
    return native.tokenNow(this, fd, record) ?? native.tokenWait(this, this.#fileMode, fd, record);
  }

  close(): void {
    native.closeFd(this.fd);
  }
}
