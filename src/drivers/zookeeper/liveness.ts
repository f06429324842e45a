/**
 * The connection watchdog `node-zookeeper-client` lacks.
 *
 * That client never notices a server that stops answering while the TCP
 * connection stays up (a paused or partitioned member: its issue #13, the
 * unmerged pull request #38), and once the TCP connection is accepted it waits
 * for the handshake answer for ever. The official clients do not: they give up
 * on a connection that was silent for 2/3 of the session timeout and move to
 * the next member while the session can still be saved.
 *
 * The rule here, checked every `readTimeout / 4`:
 * - connected, and our oldest unanswered request (counted from when it could
 *   be sent: its queueing or the last reconnection, whichever is later) is
 *   older than `readTimeout` → drop the connection; the client reconnects to
 *   the next member with the same session;
 * - not connected for longer than `connectTimeout` (a handshake nobody
 *   answers) → drop that attempt, so the next member is tried.
 * Answers come in order on a session, so an old unanswered request means
 * nothing was answered since it was sent. With a keepalive every ttl/3 and a
 * `readTimeout` of ttl/4 (client.ts), a silent member is left at most
 * ~0.65 × ttl after its last answer: before the Session's local deadline
 * (0.9 × ttl) and the engine's expiry (ttl after it last heard from us), so
 * the session can still be saved on another member. A slow but live member
 * that trips it costs only a reconnection.
 *
 * @internal
 * @module
 */

/**
 * What the watchdog observes and acts on.
 *
 * @example
 * ```ts
 * new Liveness({ connected: () => up, finished: () => done, oldestUnanswered: () => undefined, dropConnection: () => socket.destroy() }, bounds);
 * ```
 */
export interface WatchedConnection {
  /** Whether the client is connected now. */
  connected(): boolean;
  /** Whether the client is finished (session expired or closed): stop watching. */
  finished(): boolean;
  /** `performance.now()` when our oldest unanswered request could first be sent, if any. */
  oldestUnanswered(): number | undefined;
  /** Drop the current connection or connection attempt; the client moves to the next member. */
  dropConnection(why: string): void;
}

/**
 * Periodic check of one client's connection. Its timer never keeps the process alive.
 *
 * @example
 * ```ts
 * const watchdog = new Liveness(connection, { readTimeout: 700, connectTimeout: 700 });
 * client.on('connected', () => watchdog.connected());
 * client.on('disconnected', () => watchdog.disconnected());
 * watchdog.stop();
 * ```
 */
export class Liveness {
  readonly #connection: WatchedConnection;
  #readTimeout: number;
  #connectTimeout: number;
  #timer: NodeJS.Timeout | undefined;
  /** When the client last became connected. */
  #connectedAt = 0;
  /** When the current (re)connection attempt began. */
  #attemptSince = performance.now();

  constructor(connection: WatchedConnection, bounds: { readTimeout: number; connectTimeout: number }) {
    this.#connection = connection;
    this.#readTimeout = bounds.readTimeout;
    this.#connectTimeout = bounds.connectTimeout;
    this.#arm();
  }

  /** Use new bounds (once the session timeout is negotiated). */
  setBounds(bounds: { readTimeout: number; connectTimeout: number }): void {
    this.#readTimeout = bounds.readTimeout;
    this.#connectTimeout = bounds.connectTimeout;
    this.#arm();
  }

  /** The client (re)connected. */
  connected(): void {
    this.#connectedAt = performance.now();
  }

  /** The client lost its connection: a new attempt begins. */
  disconnected(): void {
    this.#attemptSince = performance.now();
  }

  /** When the client last became connected (`performance.now()`). */
  get connectedAt(): number {
    return this.#connectedAt;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #arm(): void {
    this.stop();
    const every = Math.max(10, Math.min(this.#readTimeout, this.#connectTimeout) / 4);
    this.#timer = setInterval(() => this.#check(), every).unref();
  }

  #check(): void {
    const connection = this.#connection;
    if (connection.finished()) return this.stop();
    const now = performance.now();
    if (!connection.connected()) {
      if (now - this.#attemptSince > this.#connectTimeout) {
        this.#attemptSince = now;
        connection.dropConnection(`no handshake answer within ${Math.round(this.#connectTimeout)} ms`);
      }
      return;
    }
    const oldest = connection.oldestUnanswered();
    if (oldest === undefined) return;
    const waited = now - Math.max(oldest, this.#connectedAt);
    if (waited > this.#readTimeout) {
      this.#attemptSince = now;
      connection.dropConnection(`a request has been unanswered for ${Math.round(waited)} ms`);
    }
  }
}
