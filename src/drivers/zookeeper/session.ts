/**
 * A deadbolt session on ZooKeeper is one ZooKeeper session, i.e. one client
 * connection's session: every claim is an ephemeral node of it, so when the
 * ensemble expires the session (no word from us for the session timeout), or
 * we close it, every lock of the session goes with it, on the ensemble's clock.
 *
 * - TTL: the session timeout the server negotiated, which it clamps into
 *   [minSessionTimeout, maxSessionTimeout] (by default 2× to 20× its tickTime);
 *   `ttlMs` reports the negotiated value, not the one asked for.
 * - Marker: an ephemeral `<namespace>/sessions/<id>` node, created at open,
 *   lets the next holder of a lock tell "released" from "expired" (paths.ts).
 * - keepAlive(): one cheap read (`exists /`); any request renews the session
 *   on the server. While disconnected it fails at once, so the Session
 *   reports `suspended` at its next beat rather than after a long wait.
 * - Loss: the client's "session expired" event (seen when it reconnects after
 *   the expiry) calls `onLost`; the Session's local deadline covers the time
 *   before that, when nothing can be heard.
 * - revoke(): close the session (the ensemble deletes its nodes at once).
 *
 * @internal
 * @module
 */
import { BackendUnavailableError, SessionLostError } from '../../errors.js';
import type { DriverSession } from '../../distributed/driver.js';
import type { ZkClient } from './client.js';
import { isSessionGone, mapError, ZkCode, zkCode } from './map-error.js';
import type { ZkPaths } from './paths.js';

/**
 * One ZooKeeper session.
 *
 * @example
 * ```ts
 * const session = await ZkSession.start(await ZkClient.open(config, 10_000), paths);
 * await session.keepAlive();
 * await session.revoke();
 * ```
 */
export class ZkSession implements DriverSession {
  readonly client: ZkClient;
  onLost?: (cause: unknown) => void;

  private constructor(client: ZkClient) {
    this.client = client;
    client.onExpired((error) => this.onLost?.(error));
  }

  /** Take over a connected client's session and mark it alive under `paths`. */
  static async start(client: ZkClient, paths: ZkPaths): Promise<ZkSession> {
    const session = new ZkSession(client);
    const marker = paths.session(client.sessionId);
    try {
      await client.create(marker, null, 'ephemeral').catch(async (error: unknown) => {
        if (zkCode(error) === ZkCode.NODE_EXISTS) return; // a retried create
        if (zkCode(error) !== ZkCode.NO_NODE) throw error;
        await client.mkdirp(paths.sessionsRoot);
        await client.create(marker, null, 'ephemeral');
      });
    } catch (error) {
      throw mapError(error, 'opening the session');
    }
    return session;
  }

  /** The session id, as ZooKeeper's tools print it (`0x…`). */
  get id(): string {
    return this.client.sessionId;
  }

  /** The negotiated session timeout. */
  get ttlMs(): number {
    return this.client.sessionTimeout;
  }

  async keepAlive(): Promise<void> {
    if (this.client.expired) throw new SessionLostError(`zookeeper session ${this.id} expired`);
    if (!this.client.connected) throw new BackendUnavailableError(`zookeeper session ${this.id} is disconnected; reconnecting`);
    try {
      await this.client.exists('/');
    } catch (error) {
      throw isSessionGone(error) ? new SessionLostError(`zookeeper session ${this.id} expired`, { cause: error }) : mapError(error, 'renewing the session');
    }
  }

  async revoke(): Promise<void> {
    await this.client.close(Math.min(1_000, this.ttlMs / 2));
  }
}
