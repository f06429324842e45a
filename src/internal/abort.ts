/**
 * One AbortSignal for a whole wait: the caller's `signal` and the `timeout`,
 * whichever comes first. The timeout aborts with a LockTimeoutError (the
 * documented rejection), the caller's signal with its own reason.
 *
 * @internal
 * @module
 */
import { LockTimeoutError } from '../errors.js';

/** A combined signal and the function that stops its timer. @internal */
export interface WaitSignal {
  readonly signal: AbortSignal;
  /** Stop the timer; call when the wait is over, however it ended. */
  dispose(): void;
}

const NEVER = new AbortController().signal;

/**
 * Combine `signal` with a `timeout` (ms) measured from now. `what` names the
 * wait in the timeout message ("lock \"jobs\" in /run/locks").
 */
export function waitSignal(signal: AbortSignal | undefined, timeout: number | undefined, what: string): WaitSignal {
  if (timeout === undefined) return { signal: signal ?? NEVER, dispose: () => undefined };
  const controller = new AbortController();
  const timer = setTimeout(() => {
    controller.abort(new LockTimeoutError(`timed out after ${timeout} ms waiting for ${what}`, timeout));
  }, timeout);
  return {
    signal: signal === undefined ? controller.signal : AbortSignal.any([signal, controller.signal]),
    dispose: () => clearTimeout(timer),
  };
}
