/**
 * How errors of `ioredis` and of Redis itself become deadbolt's errors.
 *
 * Redis answers with an error word first (`WRONGPASS …`, `READONLY …`), which
 * is what is matched here; `ioredis` is loaded lazily, so its classes are
 * recognised by name rather than with `instanceof`.
 *
 * @internal
 * @module
 */
import { BackendError, BackendUnavailableError, DeadboltError } from '../../errors.js';

/** Error words meaning "this server cannot serve us right now" (failover, loading, a busy script). */
const TRANSIENT_REPLY = /^(READONLY|LOADING|MASTERDOWN|BUSY|TRYAGAIN|CLUSTERDOWN|NOREPLICAS)\b/;

/** Messages of ioredis for a connection that is down or a command that ran out of time. */
const CONNECTION = /Connection is closed|Command timed out|Stream isn't writeable|connect ETIMEDOUT|ECONNREFUSED|ECONNRESET|EPIPE|EHOSTUNREACH|All sentinels are unreachable|ended/i;

/**
 * Whether Redis refused our credentials (or asked for some).
 *
 * @example
 * ```ts
 * redis.on('error', (err) => { if (isAuthError(err)) giveUp(err); });
 * ```
 */
export function isAuthError(err: unknown): boolean {
  return err instanceof Error && /^(WRONGPASS|NOAUTH|ERR invalid password|ERR AUTH)/.test(err.message);
}

/**
 * Whether retrying later (after a reconnection or a failover) may succeed.
 *
 * @example
 * ```ts
 * if (isTransient(err)) await sleep(50); else throw mapError(err, 'releasing "jobs"');
 * ```
 */
export function isTransient(err: unknown): boolean {
  if (err instanceof DeadboltError) return err instanceof BackendUnavailableError;
  if (!(err instanceof Error)) return false;
  if (err.name === 'MaxRetriesPerRequestError' || err.name === 'AbortError') return true;
  return TRANSIENT_REPLY.test(err.message) || CONNECTION.test(err.message);
}

/**
 * Map an error from `ioredis` onto deadbolt's errors; `doing` says what the
 * driver was doing, for the message. Deadbolt and argument errors pass through.
 *
 * @example
 * ```ts
 * try { await client.run('release', args); } catch (err) { throw mapError(err, 'releasing "jobs"'); }
 * ```
 */
export function mapError(err: unknown, doing: string): Error {
  if (err instanceof DeadboltError || err instanceof TypeError || err instanceof RangeError) return err;
  const text = err instanceof Error ? err.message : String(err);
  if (isAuthError(err)) {
    return new BackendError(
      `Redis rejected the credentials while ${doing}: check the password (and user name) in the URL ` +
        `(redis://user:password@host) or driverOptions.username / driverOptions.password (${text})`,
      { cause: err },
    );
  }
  if (/^NOPERM/.test(text)) {
    return new BackendError(
      `Redis denied a command while ${doing}: the user needs EVAL/EVALSHA, SUBSCRIBE and access to the namespace's keys and channels (${text})`,
      { cause: err },
    );
  }
  if (/^OOM/.test(text)) {
    return new BackendError(`Redis is out of memory (maxmemory reached, maxmemory-policy noeviction) while ${doing}: ${text}`, { cause: err });
  }
  if (isTransient(err)) return new BackendUnavailableError(`Redis unavailable while ${doing}: ${text}`, { cause: err });
  return new BackendError(`Redis failed while ${doing}: ${text}`, { cause: err });
}
