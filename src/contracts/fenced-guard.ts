/**
 * The guard of a named lock shared beyond this process (lock directories and
 * coordinators): a Guard with a name, a mode, a fencing token and a loss signal.
 *
 * What "held" means: from the grant until `release()` is called or `signal`
 * aborts, whichever comes first. Once `signal` has aborted the holder must
 * assume another may hold the lock; writes carrying `token` will be rejected by
 * a fenced resource (see Fence) once a later grant's token has been admitted.
 *
 * Lives in src/contracts/ (not src/local/): nothing in-process uses it; lock
 * directories and coordinators both build on it.
 *
 * @module
 */
import { publish, channels } from '../diagnostics.js';
import { LockLostError, type LossReason } from '../errors.js';
import type { Guard } from '../local/guard.js';

export type { LockInfo, LockOwner } from './lock-info.js';

/**
 * A held named lock with a fencing token and a loss signal.
 *
 * @example
 * ```ts
 * await using guard = await locks.acquire('invoices');
 * await db.query('UPDATE invoices SET … , token = $1 WHERE token <= $1', [guard.token]);
 * guard.signal.throwIfAborted(); // still ours?
 * ```
 */
export interface FencedGuard extends Guard {
  /** The lock's name. */
  readonly name: string;
  /** The mode it is held in. */
  readonly mode: 'exclusive' | 'shared';
  /** Fencing token: strictly greater than every earlier grant of this name. */
  readonly token: bigint;
  /** Aborted, with a LockLostError as reason, the moment the lock can no longer be trusted. */
  readonly signal: AbortSignal;
}

/**
 * Shared machinery of every FencedGuard: the loss signal, idempotent release,
 * `await using`, and the acquired / released / lost diagnostics.
 * Subclasses implement `releaseLock()`, called at most once.
 *
 * @internal
 */
export abstract class BaseFencedGuard implements FencedGuard {
  readonly name: string;
  readonly mode: 'exclusive' | 'shared';
  readonly token: bigint;
  readonly backend: string;
  /** When the grant happened (`performance.now()`), for `heldMs`. */
  readonly grantedAt = performance.now();
  /** Made on first use: most guards are released without anyone reading `signal`, and an AbortController is not free. */
  #controller: AbortController | undefined;
  readonly #quiet: boolean;
  #release: Promise<void> | undefined;
  #releaseDone = false;

  /**
   * @param quiet - publish no diagnostics: for a guard wrapped by another guard
   *   that publishes them (a LockDirectory guard under the file:// driver).
   */
  constructor(name: string, mode: 'exclusive' | 'shared', token: bigint, backend: string, waitedMs: number, quiet = false) {
    this.name = name;
    this.mode = mode;
    this.token = token;
    this.backend = backend;
    this.#quiet = quiet;
    if (!quiet) publish(channels.lockAcquired, { name, mode, backend, token, waitedMs });
  }

  get signal(): AbortSignal {
    this.#controller ??= new AbortController();
    return this.#controller.signal;
  }

  get released(): boolean {
    return this.#release !== undefined;
  }

  /** Whether the lock was lost before being released. */
  get lost(): boolean {
    return this.#controller?.signal.aborted === true;
  }

  /**
   * Release the lock. Idempotent: later calls return the first call's promise.
   * After loss, release only cleans up what is provably ours and never fails
   * because of the loss (the loss was already reported on `signal`).
   */
  release(): Promise<void> {
    if (this.#release === undefined) {
      this.#release = this.releaseLock().finally(() => {
        this.#releaseDone = true;
        if (!this.#quiet) publish(channels.lockReleased, {
          name: this.name,
          mode: this.mode,
          backend: this.backend,
          token: this.token,
          heldMs: performance.now() - this.grantedAt,
        });
      });
    }
    return this.#release;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }

  /**
   * Mark the lock lost: abort `signal` with a LockLostError and publish it.
   * Only the first call has an effect; a guard whose release completed is never
   * marked lost (but one found lost while releasing is).
   */
  markLost(reason: LossReason, message: string, cause?: unknown): void {
    if (this.lost || this.#releaseDone) return;
    const error = new LockLostError(message, { lockName: this.name, token: this.token, reason }, cause === undefined ? undefined : { cause });
    if (!this.#quiet) publish(channels.lockLost, {
      name: this.name,
      mode: this.mode,
      backend: this.backend,
      token: this.token,
      heldMs: performance.now() - this.grantedAt,
      reason,
    });
    this.#controller ??= new AbortController();
    this.#controller.abort(error);
  }

  /** Give the lock back to the backend. Called at most once. */
  protected abstract releaseLock(): Promise<void>;
}
