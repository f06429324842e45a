/**
 * Session: the one liveness object every distributed lock is built on (etcd's
 * `concurrency.Session`, Curator's connection states).
 *
 * Protocol
 * - Opening grants a lease of `ttlMs`; the time the grant request was *sent*
 *   counts as the first acknowledged keepalive.
 * - A keepalive is sent every ttl/3, whether or not the previous one answered
 *   (a hung request must not stop the next one; loss bounds how many pile up).
 * - Local deadline = send time of the last acknowledged keepalive + ttl − margin.
 *   The engine renews from the moment it *receives* a keepalive, which is never
 *   before we sent it, so its expiry is at least `margin` after our deadline.
 * - States: `connected` → `suspended` (a keepalive failed, or is still
 *   unanswered when the next one is due: we are not sure) → `connected` again
 *   (`reconnected`: a keepalive was acknowledged before the deadline), or
 *   `lost` (the deadline passed, the engine said the lease is gone, or the
 *   driver reported it). `lost` and `closed` are final.
 *
 * What "held" means: every lock taken through this session is held until the
 * session is lost or closed. After `suspended` you are not sure; after `lost`
 * you certainly do not hold anything (Curator's rule).
 *
 * How loss is detected: locally, by a timer at the deadline that needs no
 * answer from the engine, so a partitioned holder learns it lost its locks
 * before the engine can grant them to anyone else. Reading `signal` also
 * checks the deadline, so code that resumes after a pause (SIGSTOP, a long GC,
 * a blocked event loop) sees the loss at once, before the late timer fires.
 *
 * @module
 */
import { channels, publish } from '../diagnostics.js';
import { BackendUnavailableError, ClosedError, SessionLostError } from '../errors.js';
import { systemClock, type Clock, type ClockTimer } from './clock.js';
import type { Driver, DriverSession } from './driver.js';
import type { LockOwner } from '../contracts/fenced-guard.js';

/**
 * Where a session stands. `lost` and `closed` are final.
 *
 * @example
 * ```ts
 * if (coordinator.session.state === 'suspended') console.warn('lease not confirmed; locks may be lost soon');
 * ```
 */
export type SessionState = 'connected' | 'suspended' | 'lost' | 'closed';

/** Shortest wait before retrying a failed keepalive, so a refusing engine is not hammered. */
const MIN_RETRY_MS = 10;

/**
 * How long before the engine's earliest possible expiry the session gives up:
 * a tenth of the TTL, at least 50 ms (a typical event-loop stall, during which
 * the deadline timer fires late), but never more than a quarter of the TTL so
 * that two keepalives still fit before the deadline.
 *
 * @example
 * ```ts
 * safetyMargin(15_000); // 1500
 * safetyMargin(200);    // 50
 * ```
 */
export function safetyMargin(ttlMs: number): number {
  return Math.min(Math.max(ttlMs / 10, 50), ttlMs / 4);
}

/**
 * A lease with the coordination engine, kept alive in the background, whose
 * `signal` aborts with SessionLostError the moment it can no longer be trusted.
 *
 * @example
 * ```ts
 * const coordinator = await connect('etcd://127.0.0.1:2379', { ttl: 10_000 });
 * coordinator.session.signal.addEventListener('abort', () => {
 *   console.error('session lost:', coordinator.session.signal.reason);
 * });
 * ```
 */
export class Session {
  readonly #driverSession: DriverSession;
  readonly #backend: string;
  readonly #clock: Clock;
  readonly #margin: number;
  readonly #interval: number;
  readonly #controller = new AbortController();
  #state: SessionState = 'connected';
  #deadline: number;
  /** Send time of the oldest keepalive not yet answered, if any. */
  #unanswered: number | undefined;
  #beatTimer: ClockTimer | undefined;
  #deadlineTimer: ClockTimer | undefined;
  #revoked: Promise<void> | undefined;

  /**
   * Open a lease on `driver` and start keeping it alive.
   * @internal
   */
  static async open(driver: Pick<Driver, 'backend' | 'openSession'>, ttlMs: number, owner: LockOwner, clock: Clock = systemClock): Promise<Session> {
    const sentAt = clock.now();
    const driverSession = await driver.openSession(ttlMs, owner);
    const session = new Session(driverSession, { backend: driver.backend, sentAt, clock });
    if (session.state !== 'connected') {
      // The grant took longer than the lease itself: nothing built on it could be trusted.
      throw new BackendUnavailableError(`${driver.backend} granted the session lease only after its ${ttlMs} ms TTL had run out`);
    }
    return session;
  }

  /**
   * Start keeping `driverSession` alive. `sentAt` is when its grant was requested.
   * @internal
   */
  constructor(driverSession: DriverSession, options: { backend: string; sentAt: number; clock?: Clock }) {
    this.#driverSession = driverSession;
    this.#backend = options.backend;
    this.#clock = options.clock ?? systemClock;
    this.#margin = safetyMargin(driverSession.ttlMs);
    this.#interval = driverSession.ttlMs / 3;
    // A session without a lease (the file driver: the process is the lease) has nothing to renew and no deadline.
    this.#deadline = driverSession.leaseless === true ? Number.POSITIVE_INFINITY : options.sentAt + driverSession.ttlMs - this.#margin;
    driverSession.onLost = (cause) => this.#lose(`${this.#backend} reported the session gone`, cause);
    publish(channels.sessionOpened, this.#message());
    if (driverSession.leaseless !== true && this.checkDeadline()) {
      this.#armDeadline();
      this.#schedule(options.sentAt + this.#interval - this.#clock.now());
    }
  }

  /** The engine's id for the lease. */
  get id(): string {
    return this.#driverSession.id;
  }

  /** The lease's TTL as granted, in ms. */
  get ttlMs(): number {
    return this.#driverSession.ttlMs;
  }

  /** How long before the engine's earliest expiry this session declares itself lost, in ms. */
  get marginMs(): number {
    return this.#margin;
  }

  /** Where the session stands; see {@link SessionState}. */
  get state(): SessionState {
    this.checkDeadline();
    return this.#state;
  }

  /** Milliseconds left before the local deadline (0 once lost or closed). */
  get remainingMs(): number {
    if (!this.checkDeadline()) return 0;
    return Math.max(0, this.#deadline - this.#clock.now());
  }

  /**
   * Aborted with SessionLostError when the session is lost, with ClosedError
   * when it is closed. Reading it checks the deadline first.
   */
  get signal(): AbortSignal {
    this.checkDeadline();
    return this.#controller.signal;
  }

  /** The driver's session, for requests made on it. @internal */
  get driverSession(): DriverSession {
    return this.#driverSession;
  }

  /**
   * Declare the session lost if its deadline has passed. Returns whether it is
   * still usable (connected or suspended).
   * @internal
   */
  checkDeadline(): boolean {
    if (this.#state === 'lost' || this.#state === 'closed') return false;
    if (this.#clock.now() < this.#deadline) return true;
    this.#lose(`no keepalive of the ${this.#driverSession.ttlMs} ms lease was acknowledged in time`);
    return false;
  }

  /**
   * Stop keeping the lease alive and revoke it (the engine frees every lock it
   * carries). Idempotent; never rejects.
   * @internal
   */
  close(): Promise<void> {
    if (this.#state !== 'lost' && this.#state !== 'closed') {
      this.#state = 'closed';
      this.#stopTimers();
      publish(channels.sessionClosed, this.#message());
      this.#controller.abort(new ClosedError(`the ${this.#backend} session ${this.id} was closed`));
    }
    return this.#revoke();
  }

  #schedule(delay: number): void {
    if (this.#beatTimer !== undefined) this.#clock.clearTimeout(this.#beatTimer);
    this.#beatTimer = this.#clock.setTimeout(() => this.#beat(), Math.max(0, delay));
  }

  #beat(): void {
    this.#beatTimer = undefined;
    if (!this.checkDeadline()) return;
    if (this.#unanswered !== undefined && this.#clock.now() - this.#unanswered >= this.#interval) {
      this.#suspend(new BackendUnavailableError(`a keepalive sent ${Math.round(this.#clock.now() - this.#unanswered)} ms ago is still unanswered`));
    }
    this.#send();
    this.#schedule(this.#interval);
  }

  #send(): void {
    const sentAt = this.#clock.now();
    this.#unanswered ??= sentAt;
    let sent: Promise<void>;
    try {
      sent = this.#driverSession.keepAlive();
    } catch (err) {
      sent = Promise.reject(err);
    }
    sent.then(
      () => this.#acknowledge(sentAt),
      (err: unknown) => this.#fail(err),
    );
  }

  #acknowledge(sentAt: number): void {
    if (!this.checkDeadline()) return;
    // An old answer arriving after a newer one must not move the deadline back.
    this.#deadline = Math.max(this.#deadline, sentAt + this.#driverSession.ttlMs - this.#margin);
    this.#armDeadline();
    if (this.#unanswered !== undefined && this.#unanswered <= sentAt) this.#unanswered = undefined;
    if (this.#state === 'suspended') {
      this.#state = 'connected';
      publish(channels.sessionReconnected, this.#message());
    }
  }

  #fail(err: unknown): void {
    if (!this.checkDeadline()) return;
    if (err instanceof SessionLostError) {
      this.#lose(`${this.#backend} says the lease is gone`, err);
      return;
    }
    this.#suspend(err);
    // Retry before the regular beat: the deadline is what is at stake.
    const left = this.#deadline - this.#clock.now();
    this.#schedule(Math.min(this.#interval, Math.max(MIN_RETRY_MS, left / 4)));
  }

  #suspend(error: unknown): void {
    if (this.#state !== 'connected') return;
    this.#state = 'suspended';
    publish(channels.sessionSuspended, this.#message(error));
  }

  #lose(why: string, cause?: unknown): void {
    if (this.#state === 'lost' || this.#state === 'closed') return;
    this.#state = 'lost';
    this.#stopTimers();
    const error = new SessionLostError(`the ${this.#backend} session ${this.id} was lost: ${why}`, cause === undefined ? undefined : { cause });
    publish(channels.sessionLost, this.#message(error));
    this.#controller.abort(error);
    // The engine may still hold the lease (we only could not reach it): free our locks sooner.
    void this.#revoke();
  }

  #armDeadline(): void {
    if (this.#deadlineTimer !== undefined) this.#clock.clearTimeout(this.#deadlineTimer);
    const fire = (): void => {
      this.#deadlineTimer = undefined;
      // Timers may fire a hair early on another clock's reading: re-arm until really due.
      if (this.checkDeadline()) this.#armDeadline();
    };
    this.#deadlineTimer = this.#clock.setTimeout(fire, Math.max(1, this.#deadline - this.#clock.now()));
  }

  #stopTimers(): void {
    if (this.#beatTimer !== undefined) this.#clock.clearTimeout(this.#beatTimer);
    if (this.#deadlineTimer !== undefined) this.#clock.clearTimeout(this.#deadlineTimer);
    this.#beatTimer = this.#deadlineTimer = undefined;
  }

  #revoke(): Promise<void> {
    this.#revoked ??= Promise.resolve()
      .then(() => this.#driverSession.revoke())
      .catch(() => {
        // Best effort: an unreachable engine expires the lease on its own within the TTL.
      });
    return this.#revoked;
  }

  #message(error?: unknown): object {
    const message = { backend: this.#backend, sessionId: this.id, ttlMs: this.#driverSession.ttlMs };
    return error === undefined ? message : { ...message, error };
  }
}
