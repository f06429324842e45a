/**
 * One AbortSignal for one wait, aborted by whichever comes first: the caller's
 * `signal`, the `timeout` (with LockTimeoutError), the session's loss or the
 * coordinator's close. Drivers see a single signal and need not know why.
 *
 * Written out instead of `AbortSignal.any` so that the listeners on long-lived
 * signals (session, coordinator) are removed as soon as the wait settles,
 * rather than whenever the garbage collector gets to them.
 *
 * @internal
 * @module
 */
import { LockTimeoutError } from '../errors.js';

/**
 * The combined signal of one acquire.
 * @internal
 */
export class WaitSignal {
  readonly #controller = new AbortController();
  readonly #sources: AbortSignal[] = [];
  #timer: NodeJS.Timeout | undefined;

  /**
   * @param sources - signals that end the wait with their own reason.
   * @param timeout - ms before the wait ends with LockTimeoutError (`undefined`: never).
   * @param label - how the timeout error names the lock (`lock "jobs"`).
   */
  constructor(sources: readonly (AbortSignal | undefined)[], timeout: number | undefined, label: string) {
    for (const source of sources) {
      if (source === undefined) continue;
      if (source.aborted) {
        this.#abort(source.reason);
        return;
      }
      source.addEventListener('abort', this, { once: true });
      this.#sources.push(source);
    }
    if (timeout !== undefined) {
      // Ref'd like the in-process queues' timers: a pending wait with a deadline keeps the process up.
      this.#timer = setTimeout(() => {
        this.#abort(new LockTimeoutError(`${label} was not granted within ${timeout} ms`, timeout));
      }, timeout);
    }
  }

  /** The signal to hand to the local queue and to the driver. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** EventTarget calls this when a source aborts. */
  handleEvent(event: Event): void {
    this.#abort((event.target as AbortSignal).reason);
  }

  /**
   * The error a failed wait rejects with: the abort reason when the wait was
   * aborted (a driver may reject with its client's own AbortError), else `err`.
   */
  explain(err: unknown): unknown {
    return this.#controller.signal.aborted ? this.#controller.signal.reason : err;
  }

  /**
   * End the wait with `reason` now, as an aborted source would: for an owner
   * that tracks its waits itself (a LockDirectory's close()), which is cheaper
   * than one more listener per wait on a long-lived signal.
   */
  abort(reason: unknown): void {
    this.#abort(reason);
  }

  /** Stop listening and cancel the timer. Idempotent. */
  dispose(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const source of this.#sources) source.removeEventListener('abort', this);
    this.#sources.length = 0;
  }

  #abort(reason: unknown): void {
    if (this.#controller.signal.aborted) return;
    this.dispose();
    this.#controller.abort(reason);
  }
}
