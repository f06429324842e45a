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
 * @internal
 * @module
 */
import { readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigurationError } from '../errors.js';
import { TOKEN_FILE } from './lock-name.js';
import * as native from './native.js';

/** 20 decimal digits hold any unsigned 64-bit value; a fixed width needs no truncation. */
const WIDTH = 20;

/** The token counter of one lock directory, opened once and kept open. */
export class TokenCounter {
  readonly path: string;
  readonly #fd: number;
  readonly #buffer = Buffer.alloc(WIDTH + 1);
  /**
   * A kernel wait for the counter in flight. OFD locks belong to the open file
   * description, so a second wait on our own fd would be granted at once
   * alongside the first: in-process callers queue behind it instead.
   */
  #waiting: Promise<bigint> | undefined;

  constructor(directory: string, fileMode: number) {
    this.path = join(directory, TOKEN_FILE);
    this.#fd = native.openLockFile(this.path, fileMode);
  }

  /** The next token. Synchronous unless another process holds the counter right now. */
  next(): bigint | Promise<bigint> {
    if (this.#waiting !== undefined) return this.#waiting.then(() => this.next());
    if (native.tryLock(this.#fd, 'exclusive')) return this.#increment();
    const waiting = native.lock(this.#fd, 'exclusive').promise.then(
      () => this.#increment(), // the wait is never cancelled, so it always ends granted
    );
    this.#waiting = waiting;
    const done = () => {
      if (this.#waiting === waiting) this.#waiting = undefined;
    };
    waiting.then(done, done);
    return waiting;
  }

  close(): void {
    native.closeFd(this.#fd);
  }

  /** Read, increment and write while holding the counter's lock; always unlock. */
  #increment(): bigint {
    try {
      const next = this.#read() + 1n;
      this.#buffer.write(`${next.toString().padStart(WIDTH, '0')}\n`, 0, 'latin1');
      writeSync(this.#fd, this.#buffer, 0, WIDTH + 1, 0);
      return next;
    } finally {
      native.unlock(this.#fd);
    }
  }

  #read(): bigint {
    const read = readSync(this.#fd, this.#buffer, 0, WIDTH + 1, 0);
    if (read === 0) return 0n;
    const text = this.#buffer.toString('latin1', 0, read).trim();
    if (!/^\d{1,20}$/.test(text)) {
      // Guessing a value could hand out a token lower than one already used.
      throw new ConfigurationError(
        `the fencing-token counter ${this.path} is corrupt (it holds ${JSON.stringify(text.slice(0, 40))}); ` +
          'write into it a number larger than any token handed out so far (e.g. the current time in microseconds) and retry',
      );
    }
    return BigInt(text);
  }
}
