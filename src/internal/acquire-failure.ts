/**
 * Publishing `deadbolt:lock:acquire-failed`: an acquire of a named lock that
 * ended without the lock, and why, so that timeouts and aborts can be counted
 * (the other lock channels only see grants).
 *
 * @internal
 * @module
 */
import { channels, publish, type AcquireFailureReason } from '../diagnostics.js';
import { ClosedError, LockTimeoutError, SessionLostError } from '../errors.js';

/**
 * Why an acquire that rejected with `error` failed; `signal` is the caller's own.
 *
 * @example
 * ```ts
 * failureReason(new LockTimeoutError('…', 50), undefined); // 'timeout'
 * ```
 */
export function failureReason(error: unknown, signal: AbortSignal | undefined): AcquireFailureReason {
  // First: a caller's signal may abort with any reason, one of our errors included.
  if (signal?.aborted === true && error === signal.reason) return 'aborted';
  if (error instanceof LockTimeoutError) return 'timeout';
  if (error instanceof SessionLostError) return 'session';
  if (error instanceof ClosedError) return 'closed';
  return 'error';
}

/**
 * Publish that an acquire of `name` started at `started` (`performance.now()`)
 * rejected with `error`. The message is built even when nobody listens:
 * failures are rare, and this keeps the call sites to one line.
 *
 * @example
 * ```ts
 * reportAcquireFailure({ name, mode, backend: 'file', started, signal }, err);
 * ```
 */
export function reportAcquireFailure(
  acquire: { name: string; mode: 'exclusive' | 'shared'; backend: string; started: number; signal: AbortSignal | undefined },
  error: unknown,
): void {
  const { name, mode, backend, started, signal } = acquire;
  publish(channels.lockAcquireFailed, { name, mode, backend, waitedMs: performance.now() - started, reason: failureReason(error, signal), error });
}
