/**
 * A driver seen through {@link Secrets}: whatever leaves it (rejections, loss
 * causes and details, listings) has the connection's secrets masked, so no
 * message, `cause` chain, diagnostic (session messages carry the driver's
 * errors) or `LockInfo` can carry them, whatever the client library put in
 * its errors. `connect()` interposes it only when the URL or `driverOptions`
 * hold a secret; otherwise the driver is used directly.
 *
 * The session and lock objects handed out are wrappers; requests coming back
 * from the Coordinator are unwrapped, so the driver sees its own objects.
 *
 * @internal
 * @module
 */
import type { LossReason } from '../errors.js';
import type { LockInfo, LockOwner } from '../contracts/fenced-guard.js';
import type { BreakRecord, Driver, DriverLock, DriverSession, LockRequest, PredecessorReport } from './driver.js';
import type { Secrets } from './secrets.js';

/**
 * `driver`, with every error and listing that leaves it cleaned of `secrets`.
 *
 * @example
 * ```ts
 * const driver = withoutSecrets(await factory(url, options), Secrets.of(input, options.driverOptions));
 * ```
 * @internal
 */
export function withoutSecrets(driver: Driver, secrets: Secrets): Driver {
  return secrets.empty ? driver : new SecretFreeDriver(driver, secrets);
}

class SecretFreeDriver implements Driver {
  readonly #inner: Driver;
  readonly #secrets: Secrets;
  /** Our session wrappers → the driver's own sessions. */
  readonly #sessions = new WeakMap<DriverSession, DriverSession>();
  /** The notes may quote what the engine said at connect. */
  readonly capabilities: Driver['capabilities'];

  constructor(inner: Driver, secrets: Secrets) {
    this.#inner = inner;
    this.#secrets = secrets;
    this.capabilities = { ...inner.capabilities, notes: inner.capabilities.notes.map((note) => secrets.text(note)) };
  }

  get backend(): string {
    return this.#inner.backend;
  }

  async openSession(ttlMs: number, owner: LockOwner): Promise<DriverSession> {
    const inner = await this.#clean(this.#inner.openSession(ttlMs, owner));
    const outer = new SecretFreeSession(inner, this.#secrets);
    this.#sessions.set(outer, inner);
    return outer;
  }

  async acquire(request: LockRequest, signal: AbortSignal): Promise<DriverLock> {
    return new SecretFreeLock(await this.#clean(this.#inner.acquire(this.#unwrap(request), signal)), this.#secrets);
  }

  async tryAcquire(request: LockRequest): Promise<DriverLock | undefined> {
    const lock = await this.#clean(this.#inner.tryAcquire(this.#unwrap(request)));
    return lock === undefined ? undefined : new SecretFreeLock(lock, this.#secrets);
  }

  async list(prefix: string): Promise<LockInfo[]> {
    return this.#secrets.scrub(await this.#clean(this.#inner.list(prefix)));
  }

  async holders(name: string): Promise<LockInfo[]> {
    return this.#secrets.scrub(await this.#clean(this.#inner.holders(name)));
  }

  get survey(): Driver['survey'] {
    const inner = this.#inner;
    if (inner.survey === undefined) return undefined;
    return async (prefix: string) => this.#secrets.scrub(await this.#clean(inner.survey!(prefix)));
  }

  async break(name: string, record: BreakRecord, expect?: readonly bigint[]): Promise<LockInfo[]> {
    return this.#secrets.scrub(await this.#clean(this.#inner.break(name, record, expect)));
  }

  get silentExpiry(): boolean | undefined {
    return this.#inner.silentExpiry;
  }

  get watchName(): Driver['watchName'] {
    const inner = this.#inner;
    if (inner.watchName === undefined) return undefined;
    return (name, onEvent) => this.#clean(inner.watchName!(name, onEvent));
  }

  close(): Promise<void> {
    return this.#clean(this.#inner.close());
  }

  #unwrap(request: LockRequest): LockRequest {
    const session = this.#sessions.get(request.session);
    return session === undefined ? request : { ...request, session };
  }

  #clean<T>(promise: Promise<T>): Promise<T> {
    return promise.catch((error: unknown) => Promise.reject(this.#secrets.scrub(error)));
  }
}

class SecretFreeSession implements DriverSession {
  readonly #inner: DriverSession;
  readonly #secrets: Secrets;

  constructor(inner: DriverSession, secrets: Secrets) {
    this.#inner = inner;
    this.#secrets = secrets;
  }

  get id(): string {
    return this.#inner.id;
  }

  get ttlMs(): number {
    return this.#inner.ttlMs;
  }

  get leaseless(): boolean | undefined {
    return this.#inner.leaseless;
  }

  set onLost(listener: ((cause: unknown) => void) | undefined) {
    this.#inner.onLost = listener === undefined ? undefined : (cause) => listener(this.#secrets.scrub(cause));
  }

  get onLost(): ((cause: unknown) => void) | undefined {
    return this.#inner.onLost;
  }

  keepAlive(): Promise<void> {
    return this.#inner.keepAlive().catch((error: unknown) => Promise.reject(this.#secrets.scrub(error)));
  }

  revoke(): Promise<void> {
    return this.#inner.revoke().catch((error: unknown) => Promise.reject(this.#secrets.scrub(error)));
  }
}

class SecretFreeLock implements DriverLock {
  readonly #inner: DriverLock;
  readonly #secrets: Secrets;

  constructor(inner: DriverLock, secrets: Secrets) {
    this.#inner = inner;
    this.#secrets = secrets;
  }

  get token(): bigint {
    return this.#inner.token;
  }

  get since(): Date {
    return this.#inner.since;
  }

  /** Its break record lists the displaced holders, as the engine stored them. */
  get predecessor(): PredecessorReport | undefined {
    return this.#secrets.scrub(this.#inner.predecessor);
  }

  /** The loss, its sentence masked (it may quote what the engine said). */
  onLoss(listener: (reason: LossReason, detail: string) => void): void {
    this.#inner.onLoss((reason, detail) => listener(reason, this.#secrets.text(detail)));
  }

  release(): Promise<void> {
    return this.#inner.release().catch((error: unknown) => Promise.reject(this.#secrets.scrub(error)));
  }

  get updateData(): DriverLock['updateData'] {
    const inner = this.#inner;
    if (inner.updateData === undefined) return undefined;
    return (data) => inner.updateData!(data).catch((error: unknown) => Promise.reject(this.#secrets.scrub(error)));
  }
}
