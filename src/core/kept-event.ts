/**
 * An engine event that may arrive before anyone watches for it, for engines
 * whose server keeps the queue (Redis, PostgreSQL): the answer to a request
 * and the message about the same claim travel on two connections, in either
 * order. The event is delivered once to the watch set when it happens, or kept
 * and delivered at once to the next watch, so none is dropped.
 *
 * Sticky or not: a grant or a loss, once it happened, stays happened (every
 * later watch sees it at once); a wake is used up by the watch it ends (the
 * next wait needs a wake of its own), and a request whose answer covers it
 * forgets it.
 *
 * @internal
 * @module
 */
import type { ClaimWatch, WatchEvent } from './engine.js';

const NO_WATCH: ClaimWatch = { cancel: () => {} };

/**
 * One kept event.
 *
 * @example
 * ```ts
 * const lost = new KeptEvent({ sticky: true });
 * lost.emit();                                   // nobody watches yet: kept
 * lost.watch((event) => console.log(event));     // prints 'gone' at once
 * ```
 */
export class KeptEvent {
  readonly #sticky: boolean;
  #kept: WatchEvent | undefined;
  #watcher: ((event: WatchEvent) => void) | undefined;

  constructor(options: { sticky: boolean }) {
    this.#sticky = options.sticky;
  }

  /** Whether the event happened and is kept (a sticky one: it happened at all). */
  get kept(): boolean {
    return this.#kept !== undefined;
  }

  /** The event happened: tell the watch, or keep it for the next one. A sticky event happens once. */
  emit(event: WatchEvent = 'gone'): void {
    if (this.#sticky && this.#kept !== undefined) return;
    const watcher = this.#watcher;
    this.#watcher = undefined;
    if (watcher === undefined || this.#sticky) this.#kept = event;
    watcher?.(event);
  }

  /** Drop a kept (non-sticky) event: a request about to be sent will answer for it. */
  forget(): void {
    if (!this.#sticky) this.#kept = undefined;
  }

  /** Report the event (at once if it is kept) to `onEvent`, once. */
  watch(onEvent: (event: WatchEvent) => void): ClaimWatch {
    const kept = this.#kept;
    if (kept !== undefined) {
      if (!this.#sticky) this.#kept = undefined;
      onEvent(kept);
      return NO_WATCH;
    }
    this.#watcher = onEvent;
    return { cancel: () => void (this.#watcher === onEvent && (this.#watcher = undefined)) };
  }
}

/**
 * Watch for the first of `event` and a timer of `ms` (unref'd), reporting it
 * once: a waiter's wake, or the moment the lease in its way runs out.
 *
 * @example
 * ```ts
 * return watchUntil(tracked.wake, leaseLeftMs, onEvent);
 * ```
 */
export function watchUntil(event: KeptEvent, ms: number, onEvent: (event: WatchEvent) => void): ClaimWatch {
  let done = false;
  let timer: NodeJS.Timeout | undefined;
  let watch: ClaimWatch | undefined;
  const stop = (): void => {
    done = true;
    clearTimeout(timer);
    watch?.cancel();
  };
  const fire = (happened: WatchEvent): void => {
    if (done) return;
    stop();
    onEvent(happened);
  };
  watch = event.watch(fire); // may fire at once: an event kept since the read
  if (!done) timer = setTimeout(() => fire('gone'), ms).unref();
  return { cancel: stop };
}
