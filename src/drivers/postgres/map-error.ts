/**
 * How node-postgres errors become deadbolt's errors: "could not reach a
 * working server" (BackendUnavailableError: refused, reset, timed out, server
 * shutting down, connection terminated) versus "the server said no"
 * (BackendError: wrong credentials, missing rights, anything else).
 *
 * Server errors are recognised by their SQLSTATE (`code`), client-side ones by
 * Node's `code` (ECONNREFUSED, …) or node-postgres's message.
 *
 * @internal
 * @module
 */
import { BackendError, BackendUnavailableError, DeadboltError } from '../../errors.js';

/** SQLSTATE classes and codes meaning the server is (for now) out of reach. */
const UNAVAILABLE_SQLSTATE = /^(08|57P0[1-4]|53|57014|55P03|40001|40P01)/;

/** Node socket errors meaning the server cannot be reached. */
const UNAVAILABLE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

/** node-postgres's own messages for a dead or slow connection. */
const UNAVAILABLE_MESSAGE = /timeout|terminated|not queryable|Connection ended|ended unexpectedly|socket hang up|closed/i;

/** SQLSTATEs of authentication failures: wrong password, unknown role, no pg_hba.conf entry. */
const AUTH_SQLSTATE = new Set(['28P01', '28000']);

/**
 * Whether retrying later may succeed.
 *
 * @example
 * ```ts
 * if (isTransient(err)) await sleep(100); else throw mapError(err, 'releasing "jobs"');
 * ```
 */
export function isTransient(err: unknown): boolean {
  if (err instanceof DeadboltError) return err instanceof BackendUnavailableError;
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (UNAVAILABLE_ERRNO.has(code)) return true;
    if (/^[0-9A-Z]{5}$/.test(code)) return UNAVAILABLE_SQLSTATE.test(code);
  }
  return UNAVAILABLE_MESSAGE.test(err.message);
}

/**
 * Whether `err` is the server refusing our credentials.
 *
 * @example
 * ```ts
 * if (isAuthFailure(err)) throw mapError(err, 'connecting'); // BackendError naming the credentials
 * ```
 */
export function isAuthFailure(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  return (typeof code === 'string' && AUTH_SQLSTATE.has(code)) || /^SASL:|password must be a string|password authentication/i.test(err.message);
}

/**
 * Whether `err` is SQLSTATE 42501 (insufficient_privilege).
 *
 * @example
 * ```ts
 * if (isPermissionDenied(err)) throw new BackendError('run: GRANT …');
 * ```
 */
export function isPermissionDenied(err: unknown): boolean {
  return err instanceof Error && (err as { code?: unknown }).code === '42501';
}

/**
 * Whether `err` (or its cause) is the `release` function saying our held claim
 * was already gone (SQLSTATE P0002): the lock was lost, nothing to release.
 *
 * @example
 * ```ts
 * try { await release(); } catch (err) { if (!isClaimGone(err)) throw err; }
 * ```
 */
export function isClaimGone(err: unknown): boolean {
  return hasSqlState(err, 'P0002');
}

/**
 * Whether `err` (or its cause) is a unique violation (SQLSTATE 23505): a
 * repeated `acquire` met the claim its first attempt wrote, which committed
 * while the repeat waited on it (the `poll` before the repeat was too early to see it).
 *
 * @example
 * ```ts
 * const read = await acquire().catch((err) => (isClaimTaken(err) ? poll() : Promise.reject(err)));
 * ```
 */
export function isClaimTaken(err: unknown): boolean {
  return hasSqlState(err, '23505');
}

function hasSqlState(err: unknown, code: string): boolean {
  for (let e = err; e instanceof Error; e = e.cause) {
    if ((e as { code?: unknown }).code === code) return true;
  }
  return false;
}

/**
 * Map an error from node-postgres onto deadbolt's errors; `doing` says what the
 * driver was doing ("releasing "jobs"", "connecting to postgres://…").
 * Deadbolt errors and argument errors pass through unchanged.
 *
 * @example
 * ```ts
 * try { await pool.query(q); } catch (err) { throw mapError(err, `claiming "${name}"`); }
 * ```
 */
export function mapError(err: unknown, doing: string): Error {
  if (err instanceof DeadboltError || err instanceof TypeError || err instanceof RangeError) return err;
  const text = err instanceof Error ? err.message : String(err);
  if (isAuthFailure(err)) {
    const hint = /must be a string/.test(text)
      ? 'the server asks for a password and none was given: put it in the URL (postgres://user:password@host/db), in driverOptions.password or in PGPASSWORD'
      : 'check the user name and password in the URL (or driverOptions.user / driverOptions.password) and the server\'s pg_hba.conf';
    return new BackendError(`PostgreSQL rejected the credentials while ${doing}: ${hint} (${text})`, { cause: err });
  }
  if ((err as { code?: unknown }).code === '3D000') {
    return new BackendError(`PostgreSQL has no such database while ${doing}: create it or fix the database in the URL (${text})`, { cause: err });
  }
  if (isTransient(err)) {
    return new BackendUnavailableError(`PostgreSQL unavailable while ${doing}: ${text}`, { cause: err });
  }
  return new BackendError(`PostgreSQL failed while ${doing}: ${text}`, { cause: err });
}
