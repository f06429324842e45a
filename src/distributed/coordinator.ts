/**
 * Coordinator: named, fenced locks shared across machines, over one driver and
 * one session (DESIGN.md §2).
 *
 * Ordering
 * - Same-process callers queue first in a KeyedRWLock (FIFO, writers not
 *   starved), so a process has at most one exclusive engine waiter per name.
 *   Every in-process holder, shared ones included, then makes its own engine
 *   claim: the engine sees every holder, lists it and fences it on its own token.
 * - Every wait ends on the first of: the grant, the caller's signal, the
 *   timeout, the session's loss, the coordinator's close. One combined signal
 *   carries that to the local queue and to the driver, which withdraws its
 *   claim; nothing is left claimed on any failure.
 *
 * What "held" means and how loss is detected: see guard.ts and session.ts.
 *
 * @module
 */
import { setMaxListeners } from 'node:events';
import { channels, publish } from '../diagnostics.js';
import { ClosedError, LockTimeoutError, UnsupportedError } from '../errors.js';
import { reportAcquireFailure } from '../internal/acquire-failure.js';
import { checkAcquireOptions, checkFunction, checkModeOptions, type CheckedAcquireOptions } from '../internal/validate.js';
import type { LockInfo, LockOwner } from '../contracts/fenced-guard.js';
import { runHolding, type Guard } from '../local/guard.js';
import { serialisable } from '../contracts/lock-info-json.js';
import { KeyedRWLock } from '../local/keyed.js';
import type { AcquireOptions } from '../local/rw-lock.js';
import { checkBreakOptions, type BreakOptions } from './break-options.js';
import type { Capabilities, Driver, DriverLock, LockRequest, LockSurvey } from './driver.js';
import { CoordinatorGuard, type DistributedGuard } from './guard.js';
import { checkLockName, checkLockPrefix } from '../internal/lock-name.js';
import type { Session } from './session.js';
import { WaitSignal } from '../internal/wait-signal.js';
import { onAbort } from '../internal/on-abort.js';

export type { BreakOptions } from './break-options.js';

const ignore = (): void => {};

/**
 * Distributed locks over one coordination engine. Obtain one with `connect(url)`.
 *
 * Cancellation: an acquire whose `signal` aborts or whose `timeout` passes
 * withdraws its claim from the engine and rejects with the signal's reason or
 * LockTimeoutError. A grant that already happened is not undone: release it.
 *
 * @example
 * ```ts
 * import { connect } from 'deadbolt';
 * await using coordinator = await connect('etcd://10.0.0.1:2379', { ttl: 10_000 });
 * await coordinator.run('nightly-report', async (guard) => {
 *   await buildReport({ fencingToken: guard.token, signal: guard.signal });
 * });
 * ```
 */
export class Coordinator implements AsyncDisposable {
  /** `'memory'`, `'file'`, `'etcd'`, … */
  readonly backend: string;
  /** What the driver guarantees. */
  readonly capabilities: Readonly<Capabilities>;
  /** The session every lock of this coordinator lives on. */
  readonly session: Session;
  /** How this coordinator appears in listings. */
  readonly owner: Readonly<LockOwner>;
  readonly #driver: Driver;
  readonly #local = new KeyedRWLock<string>();
  readonly #held = new Set<CoordinatorGuard>();
  readonly #pending = new Set<Promise<unknown>>();
  /** Aborted when the session ends or `close()` is called, with why: every wait listens to this one signal. */
  readonly #ending = new AbortController();
  #closed: Promise<void> | undefined;

  /** @internal Use `connect()`. */
  constructor(driver: Driver, session: Session, owner: LockOwner) {
    this.#driver = driver;
    this.backend = driver.backend;
    this.capabilities = Object.freeze({ ...driver.capabilities, notes: Object.freeze([...driver.capabilities.notes]) as string[] });
    this.session = session;
    this.owner = Object.freeze({ ...owner });
    onAbort(session.signal, () => this.#sessionEnded());
    // Every pending acquire listens to this long-lived signal until it settles (WaitSignal
    // removes its listener then), so many concurrent waits are normal, not a leak: without this,
    // an 11th concurrent acquire would print MaxListenersExceededWarning.
    setMaxListeners(0, this.#ending.signal);
  }

  /** The session's signal: aborted with SessionLostError on loss, ClosedError on close. */
  get signal(): AbortSignal {
    return this.session.signal;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed !== undefined;
  }

  /**
   * Wait for the lock `name`. Throws synchronously on a bad name or options.
   * Rejects with LockTimeoutError, the signal's reason, ClosedError, SessionLostError,
   * or UnsupportedError for `mode: 'shared'` on a driver without shared locks.
   *
   * @example
   * ```ts
   * await using guard = await coordinator.acquire('invoices', { timeout: 5_000 });
   * ```
   */
  acquire(name: string, options?: AcquireOptions): Promise<DistributedGuard> {
    checkLockName(name);
    const checked = checkAcquireOptions(options);
    return this.#track(this.#acquireOrReport(name, checked));
  }

  /**
   * Take the lock `name` if the engine can grant it at once, else `undefined`.
   *
   * @example
   * ```ts
   * const guard = await coordinator.tryAcquire('cron:cleanup');
   * if (guard === undefined) return; // another node runs it
   * ```
   */
  tryAcquire(name: string, options?: { mode?: 'exclusive' | 'shared' }): Promise<DistributedGuard | undefined> {
    checkLockName(name);
    const mode = checkModeOptions(options);
    const refused = this.#refusal(mode);
    if (refused !== undefined) return Promise.reject(refused);
    return this.#track(this.#tryAcquire(name, mode));
  }

  /**
   * Run `fn` holding `name`, releasing however it ends. `fn` gets the guard:
   * pass `guard.signal` and `guard.token` on to the work it protects.
   *
   * @example
   * ```ts
   * const total = await coordinator.run('ledger', (guard) => settle(guard.token), { timeout: 1_000 });
   * ```
   */
  run<R>(name: string, fn: (guard: DistributedGuard) => R | PromiseLike<R>, options?: AcquireOptions): Promise<Awaited<R>> {
    checkFunction(fn, 'fn');
    return runHolding(this.acquire(name, options), fn);
  }

  /**
   * Every current holder of every lock whose name starts with `prefix`, in this namespace.
   *
   * @example
   * ```ts
   * for (const info of await coordinator.list('billing/')) console.log(info.name, info.owner.host);
   * ```
   */
  list(prefix?: string): Promise<LockInfo[]> {
    const checked = checkLockPrefix(prefix);
    if (this.#closed !== undefined) return Promise.reject(this.#closedError());
    return this.#driver.list(checked).then(serialisableAll);
  }

  /**
   * The current holders of `name` (none, one, or several shared holders).
   *
   * @example
   * ```ts
   * const [holder] = await coordinator.holders('ledger');
   * ```
   */
  holders(name: string): Promise<LockInfo[]> {
    checkLockName(name);
    if (this.#closed !== undefined) return Promise.reject(this.#closedError());
    return this.#driver.holders(name).then(serialisableAll);
  }

  /**
   * Read only, for operators: every name starting with `prefix` that has
   * holders, waiters or a kept break record — its holders, its waiters in
   * queue order, its last break — read in bulk. `undefined` when the engine
   * cannot tell who waits (a lock directory): use `list()` then, and show
   * waiters as unknown, not as none.
   *
   * @example
   * ```ts
   * const survey = await coordinator.survey('billing/');
   * if (survey === undefined) console.log('waiters: unknown');
   * else for (const s of survey) console.log(s.name, s.holders.length, s.waiters.length);
   * ```
   */
  survey(prefix?: string): Promise<LockSurvey[] | undefined> {
    const checked = checkLockPrefix(prefix);
    if (this.#closed !== undefined) return Promise.reject(this.#closedError());
    return this.#driver.survey === undefined ? Promise.resolve(undefined) : this.#driver.survey(checked);
  }

  /**
   * Displace the holders of `name` (the operator's tool). The engine stores who
   * broke it, when and why; the next holder reads that in `guard.predecessor`.
   * Resolves with the holders displaced. Publishes `deadbolt:lock:broken`.
   * With `expect` (the tokens `holders()` showed), the engine breaks only those
   * holders, atomically; if the holders changed meanwhile nothing is broken and
   * it rejects with HolderChangedError.
   *
   * @example
   * ```ts
   * const displaced = await coordinator.break('ledger', { reason: 'holder hung in GC for 10 min' });
   * const seen = await coordinator.holders('ledger');
   * await coordinator.break('ledger', { reason: 'still hung', expect: seen.map((h) => h.token) });
   * ```
   */
  break(name: string, options: BreakOptions): Promise<LockInfo[]> {
    checkLockName(name);
    const { reason, by, expect } = checkBreakOptions(options, this.owner);
    if (this.#closed !== undefined) return Promise.reject(this.#closedError());
    if (!this.capabilities.breakable) return Promise.reject(new UnsupportedError(`the ${this.backend} driver cannot break locks`));
    return this.#break(name, reason, by, expect);
  }

  async #break(name: string, reason: string, by: string, expect: readonly bigint[] | undefined): Promise<LockInfo[]> {
    const displaced = serialisableAll(await this.#driver.break(name, { reason, by, at: new Date() }, expect));
    // Our own displaced guards learn it here even if the driver cannot notify them.
    for (const guard of this.#held) {
      if (guard.name === name && displaced.some((info) => info.token === guard.token)) {
        guard.markLost('broken', `lock "${name}" (token ${guard.token}) was broken by ${by}: ${reason}`);
      }
    }
    publish(channels.lockBroken, { name, backend: this.backend, reason, by, displaced });
    return displaced;
  }

  /**
   * Release every held lock, reject every waiter with ClosedError, revoke the
   * session and close the driver. Idempotent: later calls return the first call's promise.
   *
   * @example
   * ```ts
   * process.once('SIGTERM', () => void coordinator.close());
   * ```
   */
  close(): Promise<void> {
    this.#closed ??= this.#shutdown();
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** An acquire, refused or waited for, publishing `deadbolt:lock:acquire-failed` when it fails. */
  async #acquireOrReport(name: string, options: CheckedAcquireOptions): Promise<DistributedGuard> {
    const started = performance.now();
    try {
      const refused = this.#refusal(options.mode);
      if (refused !== undefined) throw refused;
      return await (options.timeout === 0 ? this.#tryOrTimeout(name, options) : this.#acquire(name, options, started));
    } catch (err) {
      reportAcquireFailure({ name, mode: options.mode, backend: this.backend, started, signal: options.signal }, err);
      throw err;
    }
  }

  async #acquire(name: string, { mode, signal, timeout }: CheckedAcquireOptions, started: number): Promise<DistributedGuard> {
    publish(channels.lockWaiting, { name, mode, backend: this.backend });
    // Without a signal or a timeout of its own, only the coordinator's end can stop the wait, and
    // its signal serves as it is: no controller and no listener per acquire.
    const wait = signal === undefined && timeout === undefined ? undefined : new WaitSignal([signal, this.#ending.signal], timeout, `lock "${name}"`);
    const waitSignal = wait?.signal ?? this.#ending.signal;
    try {
      const local = await this.#local.acquire(name, { mode, signal: waitSignal });
      let lock: DriverLock;
      try {
        lock = await this.#driver.acquire(this.#request(name, mode), waitSignal);
      } catch (err) {
        await local.release();
        throw err;
      }
      // The guard (and its onLost hook) is created in this same turn; the await only waits for a refusal.
      return await this.#grant(name, mode, lock, local, started);
    } catch (err) {
      throw waitSignal.aborted ? waitSignal.reason : err;
    } finally {
      wait?.dispose();
    }
  }

  async #tryAcquire(name: string, mode: 'exclusive' | 'shared'): Promise<DistributedGuard | undefined> {
    const started = performance.now();
    const local = this.#local.tryAcquire(name, { mode });
    if (local === undefined) return undefined;
    let lock: DriverLock | undefined;
    try {
      lock = await this.#driver.tryAcquire(this.#request(name, mode));
    } catch (err) {
      await local.release();
      throw err;
    }
    if (lock === undefined) {
      await local.release();
      return undefined;
    }
    return this.#grant(name, mode, lock, local, started);
  }

  /** `timeout: 0` means "only if free now", which on an engine is a try. */
  async #tryOrTimeout(name: string, options: CheckedAcquireOptions): Promise<DistributedGuard> {
    options.signal?.throwIfAborted();
    const guard = await this.#tryAcquire(name, options.mode);
    if (guard !== undefined) return guard;
    throw new LockTimeoutError(`lock "${name}" was not available and timeout is 0`, 0);
  }

  /** Wrap a fresh grant in a guard, unless the coordinator closed or the session died meanwhile. */
  async #grant(name: string, mode: 'exclusive' | 'shared', lock: DriverLock, local: Guard, started: number): Promise<DistributedGuard> {
    const refused = this.#ending.signal.aborted ? this.#ending.signal.reason : this.session.checkDeadline() ? undefined : this.session.signal.reason;
    if (refused !== undefined) {
      // Give the claim straight back (conditional on its token) rather than hand out a dead guard.
      await lock.release().catch(ignore);
      await local.release();
      throw refused;
    }
    const guard = new CoordinatorGuard({
      name,
      mode,
      backend: this.backend,
      waitedMs: performance.now() - started,
      lock,
      local,
      session: this.session,
      onRelease: (released) => this.#held.delete(released),
    });
    this.#held.add(guard);
    return guard;
  }

  #request(name: string, mode: 'exclusive' | 'shared'): LockRequest {
    return { session: this.session.driverSession, name, mode, owner: this.owner };
  }

  /** Why a new acquire cannot even start, if it cannot. */
  #refusal(mode: 'exclusive' | 'shared'): unknown {
    if (this.#closed !== undefined) return this.#closedError();
    if (!this.session.checkDeadline()) return this.session.signal.reason;
    if (mode === 'shared' && !this.capabilities.shared) {
      return new UnsupportedError(`the ${this.backend} driver has no shared locks; acquire in 'exclusive' mode or use a driver whose capabilities.shared is true`);
    }
    return undefined;
  }

  #closedError(): ClosedError {
    return new ClosedError(`the ${this.backend} coordinator was closed`);
  }

  /** Remember a wait in flight, so `close()` can let it withdraw before revoking the session. */
  #track<T>(promise: Promise<T>): Promise<T> {
    this.#pending.add(promise);
    const done = (): void => void this.#pending.delete(promise);
    promise.then(done, done);
    return promise;
  }

  #sessionEnded(): void {
    const reason = this.session.signal.reason;
    this.#ending.abort(reason);
    if (reason instanceof ClosedError) return;
    for (const guard of [...this.#held]) {
      guard.markLost('session', `lock "${guard.name}" (token ${guard.token}) was lost with its session`, reason);
    }
  }

  async #shutdown(): Promise<void> {
    const closed = this.#closedError();
    this.#ending.abort(closed);
    this.#local.close(closed);
    // Let aborted waits withdraw their claims; a driver that never settles is cut off
    // after one TTL, since revoking the session removes its claims anyway.
    await settledWithin([...this.#pending], this.session.ttlMs);
    await Promise.allSettled([...this.#held].map((guard) => guard.release()));
    await this.session.close();
    await this.#driver.close();
  }
}

async function settledWithin(promises: Promise<unknown>[], ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms).unref()));
  await Promise.race([Promise.allSettled(promises), limit]);
  clearTimeout(timer);
}

/** Listings leave the coordinator JSON-serialisable, whatever the driver built (src/contracts/lock-info-json.ts). */
function serialisableAll(infos: LockInfo[]): LockInfo[] {
  return infos.map(serialisable);
}
