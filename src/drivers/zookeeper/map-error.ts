/**
 * How errors of `node-zookeeper-client` become deadbolt's errors.
 *
 * The client reports a ZooKeeper result code in `err.code` (an `Exception`
 * of its own, loaded lazily, so it is recognised by its code, not by class).
 * The codes are the wire protocol's, fixed since ZooKeeper 3.0.
 *
 * @internal
 * @module
 */
import { BackendError, BackendUnavailableError, DeadboltError, SessionLostError } from '../../errors.js';

/**
 * ZooKeeper result codes the driver acts on.
 *
 * @example
 * ```ts
 * if (zkCode(err) === ZkCode.NO_NODE) return undefined; // already gone
 * ```
 */
export const ZkCode = {
  CONNECTION_LOSS: -4,
  UNIMPLEMENTED: -6,
  OPERATION_TIMEOUT: -7,
  NO_NODE: -101,
  NO_AUTH: -102,
  BAD_VERSION: -103,
  NODE_EXISTS: -110,
  NOT_EMPTY: -111,
  SESSION_EXPIRED: -112,
  AUTH_FAILED: -115,
} as const;

/**
 * The ZooKeeper result code carried by `err`, if it is a client exception.
 *
 * @example
 * ```ts
 * zkCode(err); // -101 for NO_NODE
 * ```
 */
export function zkCode(err: unknown): number | undefined {
  if (err instanceof DeadboltError || !(err instanceof Error)) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * Whether the request may or may not have been applied: the connection broke
 * before the answer came (retry after reconnecting, idempotently).
 *
 * @example
 * ```ts
 * if (isConnectionLoss(err)) await client.whenConnected(signal);
 * ```
 */
export function isConnectionLoss(err: unknown): boolean {
  if (err instanceof BackendUnavailableError) return true;
  const code = zkCode(err);
  return code === ZkCode.CONNECTION_LOSS || code === ZkCode.OPERATION_TIMEOUT;
}

/**
 * Whether `err` means the ZooKeeper session is gone.
 *
 * @example
 * ```ts
 * if (isSessionGone(err)) return; // the engine removed our nodes with the session
 * ```
 */
export function isSessionGone(err: unknown): boolean {
  return err instanceof SessionLostError || zkCode(err) === ZkCode.SESSION_EXPIRED;
}

/**
 * Map an error of the client onto deadbolt's errors; `doing` says what the
 * driver was doing ("claiming jobs"), for the message. Deadbolt errors and
 * argument errors pass through unchanged.
 *
 * @example
 * ```ts
 * try { await client.getChildren(dir); } catch (err) { throw mapError(err, `listing "${name}"`); }
 * ```
 */
export function mapError(err: unknown, doing: string): Error {
  if (err instanceof DeadboltError || err instanceof TypeError || err instanceof RangeError) return err;
  const text = err instanceof Error ? err.message : String(err);
  const code = zkCode(err);
  if (code === ZkCode.SESSION_EXPIRED) {
    return new SessionLostError(`zookeeper: the session expired while ${doing}`, { cause: err });
  }
  if (code === ZkCode.CONNECTION_LOSS || code === ZkCode.OPERATION_TIMEOUT) {
    return new BackendUnavailableError(`zookeeper unreachable while ${doing} (${text})`, { cause: err });
  }
  if (code === ZkCode.NO_AUTH || code === ZkCode.AUTH_FAILED) {
    return new BackendError(
      `zookeeper refused access while ${doing}: the chroot's ACL must allow this client to create, read and delete (${text})`,
      { cause: err },
    );
  }
  return new BackendError(`zookeeper failed while ${doing}: ${text}`, { cause: err });
}
