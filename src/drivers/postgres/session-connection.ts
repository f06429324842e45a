/**
 * The session connection: the one PostgreSQL connection a driver keeps for
 * its sessions. It opens them (so `sessions.backend_pid` names it), renews
 * them, LISTENs on their channels (the grants and losses the server NOTIFYs
 * arrive here and are handed to the session by channel), and makes and
 * deletes their claims, because it holds each claim's advisory key.
 *
 * Requests on it go one at a time (node-postgres would queue them anyway) and
 * each is bounded by a timer of our own, so a silent server costs a rejected
 * promise, never a hung caller. When the connection ends for any reason but our
 * own close (pg_terminate_backend, server restart, network error), every
 * session on it is reported lost: a session lives on one connection.
 *
 * The socket keeps the process alive only while a request is in flight or
 * someone waits for a lock (see {@link SessionConnection.hold}): an idle
 * session alone never does.
 *
 * @internal
 * @module
 */
import type { Client, Notification, QueryResult } from 'pg';
import { withTimeout } from './connection.js';
import { mapError } from './map-error.js';
import type { Statement } from './statements.js';

/** node-postgres has `ref()`/`unref()` (they reach the socket); its type definitions lack them. */
type RefClient = Client & { ref(): void; unref(): void };

/**
 * The session connection of one driver.
 *
 * @example
 * ```ts
 * const connection = new SessionConnection(client);
 * await connection.listen('deadbolt:42', (payload) => console.log(payload));
 * const release = connection.hold(); // keep the process up while waiting
 * ```
 */
export class SessionConnection {
  readonly #client: RefClient;
  readonly #channels = new Map<string, (payload: string) => void>();
  readonly #closedHandlers = new Set<(cause: unknown) => void>();
  #tail: Promise<unknown> = Promise.resolve();
  #holds = 0;
  #closing = false;
  #ended: unknown;

  constructor(client: Client) {
    this.#client = client as RefClient;
    client.on('notification', (message: Notification) => this.#channels.get(message.channel)?.(message.payload ?? ''));
    client.on('error', (error: Error) => this.#end(error));
    client.on('end', () => this.#end(new Error('the connection was closed')));
    this.#client.unref();
  }

  /** Whether the connection has ended. */
  get ended(): boolean {
    return this.#ended !== undefined;
  }

  /**
   * Run one request after those before it, bounded by `timeoutMs` from now:
   * SQL text, or one of the protocol's prepared statements. Rejects with
   * deadbolt's errors (mapped with `doing`).
   */
  request(statement: string | Statement, values: unknown[], timeoutMs: number, doing: string): Promise<QueryResult> {
    if (this.#ended !== undefined) return Promise.reject(mapError(this.#ended, doing));
    const letGo = this.hold();
    const query = typeof statement === 'string' ? { text: statement, values } : { name: statement.name, text: statement.text, values };
    const run = this.#tail.then(() => this.#client.query(query));
    // The next request waits for this one to be answered, however long that takes.
    this.#tail = run.catch(() => {}).finally(letGo);
    return withTimeout(run, timeoutMs, doing).catch((error: unknown) => {
      throw mapError(error, doing);
    });
  }

  /** LISTEN on `channel`; its notifications go to `handler`. */
  async listen(channel: string, handler: (payload: string) => void, timeoutMs: number): Promise<void> {
    this.#channels.set(channel, handler);
    try {
      await this.request(`LISTEN "${channel}"`, [], timeoutMs, `listening on channel "${channel}"`);
    } catch (error) {
      // unless someone listened again meanwhile (a name watch re-armed)
      if (this.#channels.get(channel) === handler) this.#channels.delete(channel);
      throw error;
    }
  }

  /** Stop dispatching `channel` and UNLISTEN it (after any LISTEN sent before: requests go in order). */
  async unlisten(channel: string, timeoutMs: number): Promise<void> {
    this.#channels.delete(channel);
    if (this.#ended !== undefined) return; // the LISTEN ended with the connection
    await this.request(`UNLISTEN "${channel}"`, [], timeoutMs, `unlistening channel "${channel}"`);
  }

  /** Stop dispatching `channel` (the LISTEN itself ends with the connection). */
  forget(channel: string): void {
    this.#channels.delete(channel);
  }

  /** Call `handler` once if the connection ends other than by {@link close}. */
  onClosed(handler: (cause: unknown) => void): () => void {
    if (this.#ended !== undefined && !this.#closing) {
      queueMicrotask(() => handler(this.#ended));
      return () => {};
    }
    this.#closedHandlers.add(handler);
    return () => this.#closedHandlers.delete(handler);
  }

  /**
   * Keep the process alive (the socket ref'd) until the returned function is
   * called: a process waiting for a lock must not exit under the waiter.
   */
  hold(): () => void {
    if (this.#holds++ === 0) this.#client.ref();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.#holds === 0) this.#client.unref();
    };
  }

  /** Close the connection (sessions on it end with it); bounded, never rejects. */
  async close(timeoutMs: number): Promise<void> {
    this.#closing = true;
    this.#channels.clear();
    await withTimeout(this.#client.end(), timeoutMs, 'closing the session connection').catch(() => {
      // A server that does not answer the goodbye: drop the socket.
      (this.#client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
    });
  }

  #end(cause: unknown): void {
    if (this.#ended !== undefined) return;
    this.#ended = cause;
    if (this.#closing) return;
    for (const handler of [...this.#closedHandlers]) handler(cause);
    this.#closedHandlers.clear();
  }
}
