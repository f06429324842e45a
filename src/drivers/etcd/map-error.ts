/**
 * How errors of the `etcd3` client become deadbolt's errors.
 *
 * `etcd3` turns gRPC failures into classes of its own (by status code, or by the
 * text etcd put in the message). It is loaded lazily, so they are recognised by
 * class name and message here rather than with `instanceof`.
 *
 * @internal
 * @module
 */
import {
  BackendError,
  BackendUnavailableError,
  ClosedError,
  DeadboltError,
  SessionLostError,
} from '../../errors.js';

/** Errors meaning "could not reach a working etcd" rather than "etcd said no". */
const UNAVAILABLE = new Set([
  'GRPCUnavailableError',
  'GRPCDeadlineExceededError',
  'GRPCCancelledError',
  'GRPCInternalError',
  'GRPCUnknownError',
  'GRPCResourceExhastedError',
  'GRPCAbortedError',
  'GRPCConnectFailedError',
  'BrokenCircuitError',
  'EtcdWatchStreamEnded',
]);

/** Transient states of etcd itself (elections, overload), reported as plain EtcdError. */
const TRANSIENT_ETCD = /no leader|leader changed|request timed out|too many requests|not capable|stopped|timeout|unhealthy/i;

/**
 * Whether `err` means the lease is gone (expired or revoked): etcd answered
 * "requested lease not found".
 *
 * @example
 * ```ts
 * if (isLeaseGone(err)) session.markLost(err);
 * ```
 */
export function isLeaseGone(err: unknown): boolean {
  return (
    err instanceof Error &&
    (err.constructor.name === 'EtcdLeaseInvalidError' || err.message.includes('requested lease not found'))
  );
}

/**
 * Whether retrying later (or on another member) may succeed.
 *
 * @example
 * ```ts
 * if (isTransient(err)) await sleep(50); else throw mapError(err, 'acquire');
 * ```
 */
export function isTransient(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err instanceof DeadboltError) return err instanceof BackendUnavailableError;
  const kind = err.constructor.name;
  if (UNAVAILABLE.has(kind)) return true;
  return kind === 'EtcdError' && TRANSIENT_ETCD.test(err.message);
}

/**
 * Map an error from `etcd3` onto deadbolt's errors; `doing` says what the driver
 * was doing ("granting the session lease", "releasing jobs"), for the message.
 * Deadbolt errors and argument errors pass through unchanged.
 *
 * @example
 * ```ts
 * try { await kv.txn(req); } catch (err) { throw mapError(err, `claiming "${name}"`); }
 * ```
 */
export function mapError(err: unknown, doing: string): Error {
  if (err instanceof DeadboltError || err instanceof TypeError || err instanceof RangeError) return err;
  const kind = err instanceof Error ? err.constructor.name : typeof err;
  const text = err instanceof Error ? err.message : String(err);
  if (isLeaseGone(err)) {
    return new SessionLostError(`etcd: the session lease is gone (expired or revoked) while ${doing}`, { cause: err });
  }
  if (kind === 'EtcdAuthenticationFailedError' || kind === 'GRPCUnauthenticatedError' || kind === 'EtcdInvalidAuthTokenError') {
    return new BackendError(
      `etcd rejected the credentials while ${doing}: check driverOptions.auth (username and password) ` +
        `or the user:password in the URL (${text})`,
      { cause: err },
    );
  }
  if (kind === 'EtcdPermissionDeniedError') {
    return new BackendError(
      `etcd denied permission while ${doing}: the user needs read/write on the namespace's keys and lease rights (${text})`,
      { cause: err },
    );
  }
  if (kind === 'ClientClosedError') {
    return new ClosedError(`the etcd client was closed while ${doing}`, { cause: err });
  }
  if (isTransient(err)) {
    return new BackendUnavailableError(`etcd unavailable while ${doing}: ${text}`, { cause: err });
  }
  return new BackendError(`etcd failed while ${doing}: ${text}`, { cause: err });
}
