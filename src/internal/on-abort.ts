/**
 * Run a function once when a signal aborts, or at once if it already has.
 *
 * Why a helper: some signals here are getters that check a deadline when they
 * are read (a session's, a distributed guard's). Reading one twice, as in
 * `if (x.signal.aborted) … else x.signal.addEventListener(…)`, lets the second
 * read abort it, and the listener is then added to an aborted signal and never
 * runs. A `deadbolt run` stopped (SIGSTOP) between the two reads lost the
 * notice of its lost lock that way. Here the signal is read once, by the caller.
 *
 * @internal
 * @module
 */

/**
 * Call `fn` once when `signal` aborts (synchronously now if it already has).
 * Returns a function that removes the listener; calling it after `fn` ran does nothing.
 *
 * @example
 * ```ts
 * const stopListening = onAbort(guard.signal, () => child.kill('SIGTERM'));
 * await commandExited;
 * stopListening();
 * ```
 */
export function onAbort(signal: AbortSignal, fn: () => void): () => void {
  if (signal.aborted) {
    fn();
    return () => {};
  }
  const listener = (): void => fn();
  signal.addEventListener('abort', listener, { once: true });
  return () => signal.removeEventListener('abort', listener);
}
