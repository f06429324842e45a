/**
 * `node-zookeeper-client` as the driver uses it: loaded only when a
 * `zookeeper://` URL is used, with promises, and made safe to wait on.
 *
 * Why this client: it is pure JavaScript (nothing to compile at install; the
 * `zookeeper` package compiles Apache's C client and ships no Linux
 * prebuilds), it speaks the 3.4 wire protocol that every server since 3.4
 * (3.8 included) accepts, and it has what the lock recipe needs: ephemeral
 * sequential nodes, one-shot watches re-armed after a reconnection, `multi`,
 * 64-bit stats as bytes (exact `czxid` tokens), the negotiated session timeout.
 *
 * What this wrapper adds, and why:
 * - every request either settles or is rejected: the library keeps requests
 *   queued while disconnected and forgets them when the session expires;
 * - a watchdog (liveness.ts) drops a connection whose server stopped answering;
 * - no automatic retries (`retries: 0`): a retried sequential create would make
 *   a second node; the lock protocol recovers such a create by its GUID instead;
 * - a conditional delete inside `multi` really is conditional (the library's
 *   `Transaction.remove` turns version 0 into -1, "any version").
 *
 * @internal
 * @module
 */
import { BackendError, BackendUnavailableError, ClosedError, ConfigurationError, SessionLostError } from '../../errors.js';
import type { ZooKeeperConfig } from './config.js';
import { Liveness } from './liveness.js';
import { mapError, ZkCode, zkCode } from './map-error.js';

/**
 * A node's stat, as the client gives it (64-bit fields as 8 big-endian bytes).
 *
 * @example
 * ```ts
 * const token = zxid((await client.getData(path)).stat.czxid);
 * ```
 */
export interface ZkStat {
  czxid: Buffer;
  mzxid: Buffer;
  ctime: Buffer;
  version: number;
  ephemeralOwner: Buffer;
}

/**
 * A 64-bit zxid as the client gives it (8 big-endian bytes), as a bigint.
 *
 * @example
 * ```ts
 * zxid(stat.czxid); // 4294967301n
 * ```
 */
export function zxid(bytes: Buffer): bigint {
  return bytes.readBigInt64BE(0);
}

/**
 * A session id as ZooKeeper's own tools print it (`0x…`), from 8 bytes (a
 * session id, or a node's `ephemeralOwner`).
 *
 * @example
 * ```ts
 * sessionHex(stat.ephemeralOwner); // '0x100002b5e4f0003'
 * ```
 */
export function sessionHex(bytes: Buffer): string {
  return `0x${bytes.readBigUInt64BE(0).toString(16)}`;
}

/**
 * A watch notification.
 *
 * @example
 * ```ts
 * const watcher = (event: ZkEvent) => { if (event.type === ZkEventType.DELETED) wake(); };
 * ```
 */
export interface ZkEvent {
  /** 1 created, 2 deleted, 3 data changed, 4 children changed. */
  type: number;
  path: string;
}

/**
 * The watch event types.
 *
 * @example
 * ```ts
 * if (event.type === ZkEventType.DELETED) wake();
 * ```
 */
export const ZkEventType = { CREATED: 1, DELETED: 2, DATA_CHANGED: 3, CHILDREN_CHANGED: 4 } as const;

/**
 * One operation of a `multi`.
 *
 * @example
 * ```ts
 * await client.multi([{ op: 'remove', path, version: 0 }, { op: 'setData', path: dir, data, version: -1 }]);
 * ```
 */
export type ZkOp =
  | { op: 'create'; path: string; data: Buffer }
  | { op: 'setData'; path: string; data: Buffer; version: number }
  | { op: 'remove'; path: string; version: number };

type Watcher = (event: ZkEvent) => void;
type Done<T> = (error: Error | null, result?: T) => void;

/** The part of `node-zookeeper-client`'s Client that we use. */
interface RawTransaction {
  ops?: Array<{ version?: number }>;
  create(path: string, data: Buffer, mode: number): RawTransaction;
  setData(path: string, data: Buffer, version: number): RawTransaction;
  remove(path: string, version: number): RawTransaction;
  commit(callback: (error: Error | null) => void): void;
}
interface RawClient {
  connect(): void;
  close(): void;
  on(event: string, listener: () => void): unknown;
  removeListener(event: string, listener: () => void): unknown;
  getSessionId(): Buffer;
  getSessionTimeout(): number;
  addAuthInfo(scheme: string, auth: Buffer): void;
  create(path: string, data: Buffer | null, mode: number, callback: (e: Error | null, path: string) => void): void;
  getData(path: string, watcher: Watcher | undefined, callback: (e: Error | null, data: Buffer | undefined, stat: ZkStat) => void): void;
  getChildren(path: string, watcher: Watcher | undefined, callback: (e: Error | null, children: string[], stat: ZkStat) => void): void;
  setData(path: string, data: Buffer, version: number, callback: (e: Error | null, stat: ZkStat) => void): void;
  exists(path: string, watcher: Watcher | undefined, callback: (e: Error | null, stat: ZkStat | null) => void): void;
  remove(path: string, version: number, callback: (e: Error | null) => void): void;
  transaction(): RawTransaction;
  /** Internal: the watchdog destroys `socket` to make the client move to the next member. */
  connectionManager?: { socket?: { destroy(): void } };
}
interface RawModule {
  createClient(connectionString: string, options: { sessionTimeout: number; spinDelay: number; retries: number }): RawClient;
}

const CREATE_FLAGS = { persistent: 0, ephemeral: 1, ephemeralSequential: 3 } as const;

/** A request in flight, so that it can be rejected when the client can no longer answer it. */
interface Pending {
  readonly queuedAt: number;
  readonly reject: (error: Error) => void;
}

/**
 * One ZooKeeper session: a connected `node-zookeeper-client` Client, with promises.
 *
 * @example
 * ```ts
 * const client = await ZkClient.open(config, 10_000, signal);
 * const path = await client.create('/deadbolt/locks/jobs/g-write-', data, 'ephemeralSequential');
 * await client.close();
 * ```
 */
export class ZkClient {
  /** The negotiated session timeout, in ms. */
  readonly sessionTimeout: number;
  /** The session id, as ZooKeeper's own tools print it (`0x…`). */
  readonly sessionId: string;
  readonly #raw: RawClient;
  readonly #liveness: Liveness;
  readonly #pending = new Set<Pending>();
  readonly #expiredListeners = new Set<(error: SessionLostError) => void>();
  readonly #connectedWaiters = new Set<() => void>();
  readonly #endedListeners = new Set<() => void>();
  #connected = true;
  #state: 'open' | 'expired' | 'closed' = 'open';
  #closing: Promise<void> | undefined;
  /** Who waits for the connection to drop (a closing client waits for the server to hang up). */
  readonly #disconnectedWaiters = new Set<() => void>();

  private constructor(raw: RawClient, liveness: Liveness) {
    this.#raw = raw;
    this.#liveness = liveness;
    this.sessionTimeout = raw.getSessionTimeout();
    this.sessionId = sessionHex(raw.getSessionId());
    raw.on('connected', () => this.#onConnected());
    raw.on('disconnected', () => this.#onDisconnected());
    raw.on('expired', () => this.#onExpired());
  }

  /**
   * Load the client library, connect to one of `config.endpoints` asking for a
   * `ttlMs` session, and resolve once the session is established. Rejects with
   * BackendUnavailableError after `config.connectTimeout`, ConfigurationError when
   * `node-zookeeper-client` is not installed, BackendError on refused credentials.
   */
  static async open(config: ZooKeeperConfig, ttlMs: number, signal?: AbortSignal): Promise<ZkClient> {
    const mod = await loadModule();
    signal?.throwIfAborted();
    const raw = mod.createClient(config.endpoints.join(','), {
      sessionTimeout: ttlMs,
      // Pause between rounds over every member: short, as a session of a few seconds is at stake.
      spinDelay: Math.min(200, Math.max(20, ttlMs / 10)),
      retries: 0,
    });
    for (const { scheme, auth } of config.authInfo) raw.addAuthInfo(scheme, Buffer.from(auth));
    let opened: ZkClient | undefined;
    const liveness = new Liveness(
      {
        connected: () => opened?.connected ?? false,
        finished: () => opened !== undefined && opened.#state !== 'open',
        oldestUnanswered: () => (opened === undefined ? undefined : opened.#oldest()),
        dropConnection: () => dropSocket(raw),
      },
      bounds(ttlMs, config.endpoints.length),
    );
    try {
      await handshake(raw, config, signal);
    } catch (error) {
      liveness.stop();
      raw.close();
      dropSocket(raw);
      throw error;
    }
    opened = new ZkClient(raw, liveness);
    liveness.connected();
    liveness.setBounds(bounds(opened.sessionTimeout, config.endpoints.length));
    return opened;
  }

  /** Whether the client is connected to a member now. */
  get connected(): boolean {
    return this.#connected && this.#state === 'open';
  }

  /** Whether the session expired (final). */
  get expired(): boolean {
    return this.#state === 'expired';
  }

  /** Whether the client was closed (final). */
  get closed(): boolean {
    return this.#state === 'closed';
  }

  /** Call `listener` once if the session expires. Returns a function that removes it. */
  onExpired(listener: (error: SessionLostError) => void): () => void {
    this.#expiredListeners.add(listener);
    return () => this.#expiredListeners.delete(listener);
  }

  /**
   * Call `listener` once when the client can no longer answer anything: the
   * session expired or the client was closed. Returns a function that removes it.
   */
  onEnded(listener: () => void): () => void {
    this.#endedListeners.add(listener);
    return () => this.#endedListeners.delete(listener);
  }

  /** Why requests are refused now that the client ended (SessionLostError or ClosedError). */
  endedError(): Error {
    return this.#refusal() ?? new ClosedError(`the zookeeper client of session ${this.sessionId} was closed`);
  }

  /**
   * Resolve when connected (at once if connected now). Rejects with
   * SessionLostError when the session expires, ClosedError when the client is
   * closed, the signal's reason on abort.
   */
  whenConnected(signal?: AbortSignal): Promise<void> {
    const refused = this.#refusal();
    if (refused !== undefined) return Promise.reject(refused);
    if (this.#connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const settle = (): void => {
        this.#connectedWaiters.delete(check);
        signal?.removeEventListener('abort', check);
      };
      const check = (): void => {
        const error = signal?.aborted ? signal.reason : this.#refusal();
        if (error !== undefined) {
          settle();
          reject(error);
        } else if (this.#connected) {
          settle();
          resolve();
        }
      };
      this.#connectedWaiters.add(check);
      signal?.addEventListener('abort', check, { once: true });
      check();
    });
  }

  /** Create a node; resolves with its path (sequential nodes get their suffix). */
  create(path: string, data: Buffer | null, mode: keyof typeof CREATE_FLAGS): Promise<string> {
    return this.#call<string>((done) => this.#raw.create(path, data, CREATE_FLAGS[mode], done));
  }

  /** Create `path` and any missing parent as persistent nodes; existing ones are fine. */
  async mkdirp(path: string): Promise<void> {
    try {
      await this.create(path, null, 'persistent');
    } catch (error) {
      const code = zkCode(error);
      if (code === ZkCode.NODE_EXISTS) return;
      if (code !== ZkCode.NO_NODE) throw error;
      await this.mkdirp(path.slice(0, path.lastIndexOf('/')));
      await this.mkdirp(path);
    }
  }

  /** A node's data and stat; with `watcher`, a one-shot watch for its change or deletion. */
  getData(path: string, watcher?: Watcher): Promise<{ data: Buffer | undefined; stat: ZkStat }> {
    return this.#call((done) => this.#raw.getData(path, watcher, (e, data, stat) => done(e, { data, stat })));
  }

  /**
   * The names of a node's children, unordered. With `watcher`, a one-shot
   * watch for a child's creation or deletion, or the node's own deletion.
   */
  getChildren(path: string, watcher?: Watcher): Promise<string[]> {
    return this.#call<string[]>((done) => this.#raw.getChildren(path, watcher, done));
  }

  /** The names of a node's children, unordered, and the node's own stat (same request). */
  getChildrenAndStat(path: string): Promise<{ children: string[]; stat: ZkStat }> {
    return this.#call((done) => this.#raw.getChildren(path, undefined, (e, children, stat) => done(e, { children, stat })));
  }

  /**
   * A node's stat, or `null` when it does not exist. With `watcher`, a one-shot
   * watch for its change or deletion (or, if absent, its creation).
   */
  exists(path: string, watcher?: Watcher): Promise<ZkStat | null> {
    return this.#call<ZkStat | null>((done) => this.#raw.exists(path, watcher, done));
  }

  /** Replace a node's data if its version is `version` (-1: any); resolves with its new stat. */
  setData(path: string, data: Buffer, version: number): Promise<ZkStat> {
    return this.#call<ZkStat>((done) => this.#raw.setData(path, data, version, done));
  }

  /** Delete a node if its version is `version` (-1: any). */
  remove(path: string, version: number): Promise<void> {
    return this.#call<void>((done) => this.#raw.remove(path, version, (e) => done(e)));
  }

  /** Apply `ops` atomically; rejects with the first failing operation's error. */
  multi(ops: readonly ZkOp[]): Promise<void> {
    return this.#call<void>((done) => {
      const tx = this.#raw.transaction();
      for (const op of ops) {
        if (op.op === 'create') tx.create(op.path, op.data, CREATE_FLAGS.persistent);
        else if (op.op === 'setData') keepVersion(tx.setData(op.path, op.data, op.version), op.version);
        else keepVersion(tx.remove(op.path, op.version), op.version);
      }
      tx.commit((e) => done(e));
    });
  }

  /**
   * Close the session (the engine deletes its ephemeral nodes at once). Bounded:
   * a client that cannot reach the engine is cut off after `boundMs`, and the
   * engine expires the session on its own. Idempotent; never rejects.
   */
  close(boundMs = 1_000): Promise<void> {
    this.#closing ??= this.#close(boundMs);
    return this.#closing;
  }

  /** Drop the current connection (tests: simulate a network failure). */
  dropConnection(): void {
    dropSocket(this.#raw);
  }

  async #close(boundMs: number): Promise<void> {
    const wasOpen = this.#state === 'open';
    if (wasOpen) this.#state = 'closed';
    this.#liveness.stop();
    this.#rejectAll(new ClosedError('the zookeeper client was closed'));
    if (!wasOpen) return;
    this.#ended();
    if (this.#connected) {
      const gone = new Promise<void>((resolve) => this.#disconnectedWaiters.add(resolve));
      this.#raw.close();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([gone, new Promise<void>((resolve) => (timer = setTimeout(resolve, boundMs)))]);
      clearTimeout(timer);
    } else {
      this.#raw.close();
    }
    dropSocket(this.#raw);
  }

  #call<T>(start: (done: Done<T>) => void): Promise<T> {
    const refused = this.#refusal();
    if (refused !== undefined) return Promise.reject(refused);
    return new Promise<T>((resolve, reject) => {
      const pending: Pending = { queuedAt: performance.now(), reject };
      this.#pending.add(pending);
      try {
        start((error, result) => {
          if (!this.#pending.delete(pending)) return; // rejected already (expired, closed)
          if (error) reject(error);
          else resolve(result as T);
        });
      } catch (error) {
        this.#pending.delete(pending);
        reject(error);
      }
    });
  }

  #oldest(): number | undefined {
    for (const pending of this.#pending) return pending.queuedAt; // insertion order: the first is the oldest
    return undefined;
  }

  #refusal(): Error | undefined {
    if (this.#state === 'expired') return new SessionLostError(`zookeeper session ${this.sessionId} expired`);
    if (this.#state === 'closed') return new ClosedError(`the zookeeper client of session ${this.sessionId} was closed`);
    return undefined;
  }

  #onConnected(): void {
    this.#connected = true;
    this.#liveness.connected();
    for (const waiter of [...this.#connectedWaiters]) waiter();
  }

  #onDisconnected(): void {
    this.#connected = false;
    this.#liveness.disconnected();
    for (const waiter of this.#disconnectedWaiters) waiter();
    this.#disconnectedWaiters.clear();
  }

  #onExpired(): void {
    if (this.#state !== 'open') return;
    this.#state = 'expired';
    this.#connected = false;
    this.#liveness.stop();
    const error = new SessionLostError(`zookeeper session ${this.sessionId} expired`);
    this.#rejectAll(error);
    for (const listener of [...this.#expiredListeners]) listener(error);
    this.#ended();
    // The library stops on expiry; make sure nothing of it lingers.
    dropSocket(this.#raw);
  }

  /** Wake whoever waits on the connection or the client: nothing more will come. */
  #ended(): void {
    for (const waiter of [...this.#connectedWaiters]) waiter();
    for (const listener of [...this.#endedListeners]) listener();
    this.#endedListeners.clear();
  }

  #rejectAll(error: Error): void {
    const pending = [...this.#pending];
    this.#pending.clear();
    for (const request of pending) request.reject(error);
  }
}

/** The watchdog's bounds for a session timeout and a number of members. */
function bounds(sessionTimeout: number, members: number): { readTimeout: number; connectTimeout: number } {
  return { readTimeout: sessionTimeout / 4, connectTimeout: Math.max(100, sessionTimeout / Math.max(1, members)) };
}

/** The library's `Transaction` turns version 0 into -1 ("any"); put the real one back. */
function keepVersion(tx: RawTransaction, version: number): void {
  const last = tx.ops?.[tx.ops.length - 1];
  if (last !== undefined) last.version = version;
}

function dropSocket(raw: RawClient): void {
  raw.connectionManager?.socket?.destroy();
}

/** The package name; a variable, so that TypeScript needs no type declarations for it (RawClient says what we use). */
const PACKAGE = 'node-zookeeper-client';

async function loadModule(): Promise<RawModule> {
  try {
    const mod = (await import(PACKAGE)) as RawModule & { default?: RawModule };
    return typeof mod.createClient === 'function' ? mod : mod.default!;
  } catch (error) {
    throw new ConfigurationError(
      'the zookeeper:// driver needs the "node-zookeeper-client" package, an optional peer dependency of deadbolt: ' +
        'run `npm install node-zookeeper-client`',
      { cause: error },
    );
  }
}

/** Connect and wait for the session, within the connect timeout. */
function handshake(raw: RawClient, config: ZooKeeperConfig, signal: AbortSignal | undefined): Promise<void> {
  const where = config.endpoints.join(',');
  return new Promise<void>((resolve, reject) => {
    const outcomes: Record<string, () => void> = {
      connected: () => finish(),
      authenticationFailed: () => finish(new BackendError(`zookeeper at ${where} refused driverOptions.authInfo`)),
      expired: () => finish(new BackendUnavailableError(`zookeeper at ${where} refused to create a session`)),
    };
    const onAbort = (): void => finish(signal!.reason);
    const timer = setTimeout(() => {
      finish(new BackendUnavailableError(`zookeeper at ${where} did not establish a session within options.connectTimeout (${config.connectTimeout} ms)`));
    }, config.connectTimeout);
    function finish(error?: unknown): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      for (const [event, listener] of Object.entries(outcomes)) raw.removeListener(event, listener);
      if (error === undefined) resolve();
      else reject(error);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    for (const [event, listener] of Object.entries(outcomes)) raw.on(event, listener);
    try {
      raw.connect();
    } catch (error) {
      finish(mapError(error, 'connecting'));
    }
  });
}
