/**
 * The push-based read loop under `observe` and `watchMembers`: arm the
 * engine's watch of a name, then read the name, then sleep until the engine
 * says it changed. Arming before reading is what makes it exact: a change made
 * between the read and the watch is reported by the watch, and one already in
 * the read only costs one more read. Nothing polls; a quiet name costs one open
 * watch and no requests.
 *
 * The loop ends when the caller's signal aborts or the coordinator closes, and
 * throws when the coordinator's session is lost (the reads can no longer be
 * trusted to be current) or a read fails.
 *
 * @internal
 * @module
 */
import { ClosedError } from '../errors.js';
import type { RecipeHost } from './host.js';

/**
 * Every distinct state of the name `name`, as `read` sees it, starting with
 * the current one.
 *
 * @example
 * ```ts
 * for await (const holders of nameStates(host, '@group/workers', () => host.holders('@group/workers'), sameTokens)) render(holders);
 * ```
 */
export async function* nameStates<T>(
  host: RecipeHost,
  name: string,
  read: () => Promise<T>,
  same: (before: T, after: T) => boolean,
  expiries: (state: T) => readonly (Date | undefined)[],
  signal?: AbortSignal,
): AsyncGenerator<T, void, undefined> {
  let last: { state: T } | undefined;
  for (;;) {
    if (ended(host, signal)) return;
    let wake!: () => void;
    const woken = new Promise<void>((resolve) => (wake = resolve));
    const watch = await host.watchName(name, wake);
    const stop = (): void => wake();
    signal?.addEventListener('abort', stop, { once: true });
    host.ending.addEventListener('abort', stop, { once: true });
    let timer: NodeJS.Timeout | undefined;
    try {
      const state = await read();
      if (host.silentExpiry) timer = wakeAt(earliest(expiries(state)), wake);
      if (last === undefined || !same(last.state, state)) {
        last = { state };
        yield state;
      }
      // A waiting observer keeps the process up, as a pending acquire does: the engine's
      // connections are unref'd while idle, and `for await` over an observer is the program.
      timer ??= setTimeout(() => {}, MAX_TIMER_MS);
      await woken;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', stop);
      host.ending.removeEventListener('abort', stop);
      watch.cancel();
    }
  }
}

/** Whether the loop should stop: quietly on abort or close, with the session's loss as an error. */
function ended(host: RecipeHost, signal: AbortSignal | undefined): boolean {
  if (signal?.aborted) return true;
  if (!host.ending.aborted) return false;
  if (host.ending.reason instanceof ClosedError) return true;
  throw host.ending.reason;
}

/** The earliest of `dates`, if any. */
function earliest(dates: readonly (Date | undefined)[]): number | undefined {
  let first: number | undefined;
  for (const date of dates) if (date !== undefined && (first === undefined || date.getTime() < first)) first = date.getTime();
  return first;
}

/** Call `wake` just after `at` (ms since the epoch). */
function wakeAt(at: number | undefined, wake: () => void): NodeJS.Timeout | undefined {
  if (at === undefined) return undefined;
  return setTimeout(wake, Math.min(MAX_TIMER_MS, Math.max(0, at - Date.now()) + EXPIRY_MARGIN_MS));
}

/** The longest delay a Node timer takes. */
const MAX_TIMER_MS = 2_147_483_647;

/** How long after a listed expiry to read again: the server's clock may run a little behind ours. */
const EXPIRY_MARGIN_MS = 50;
