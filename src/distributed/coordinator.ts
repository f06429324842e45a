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
import { ClosedError, invalidType, LockTimeoutError, UnsupportedError } from '../errors.js';
import { reportAcquireFailure } from '../internal/acquire-failure.js';
import { checkAcquireOptions, checkFunction, checkModeOptions, type CheckedAcquireOptions } from '../internal/validate.js';
import type { LockInfo, LockOwner } from '../contracts/fenced-guard.js';
import { runHolding, type Guard } from '../local/guard.js';
import { serialisable } from '../contracts/lock-info-json.js';
import { KeyedRWLock } from '../local/keyed.js';
import type { AcquireOptions } from '../local/rw-lock.js';
import { checkBreakOptions, type BreakOptions } from './break-options.js';
import type { Capabilities, Driver, DriverLock, LockRequest, LockSurvey, WaiterInfo } from './driver.js';
import { CoordinatorGuard, type DistributedGuard } from './guard.js';
import { checkLockName, checkLockPrefix } from '../internal/lock-name.js';
import type { Session } from './session.js';
import { WaitSignal } from '../internal/wait-signal.js';
import { onAbort } from '../internal/on-abort.js';
import { campaign, candidates, lead, leader, observe, type ElectionState, type LeaderInfo, type LeadOptions, type Leadership } from '../recipes/election.js';
import type { RecipeHost } from '../recipes/host.js';
import { join, members, watchMembers, type MemberEvent, type MemberInfo, type Membership } from '../recipes/membership.js';
import { checkPlainLockName, checkRecipeName } from '../recipes/names.js';
import { checkClaimOptions, checkSignalOption } from '../recipes/recipe-options.js';
import { DistributedSemaphore } from '../recipes/semaphore.js';

export type { BreakOptions } from './break-options.js';

/**
 * Options of `coordinator.campaign()`.
 *
 * @example
 * ```ts
 * const options: CampaignOptions = { value: 'http://10.0.0.7:8080', timeout: 30_000 };
 * ```
 */
export interface CampaignOptions {
  /** Published to observers with the leadership (at most 4 096 bytes of UTF-8); change it with `proclaim`. */
  value?: string;
  /** Stop campaigning: rejects with the signal's reason and withdraws the candidacy. */
  signal?: AbortSignal;
  /** Give up after this many ms with LockTimeoutError (`0`: only if nobody leads or waits). */
  timeout?: number;
}

/**
 * Options of `coordinator.join()`.
 *
 * @example
 * ```ts
 * const options: JoinOptions = { metadata: JSON.stringify({ zone: 'eu-1' }) };
 * ```
 */
export interface JoinOptions {
  /** What the other members read about this one (at most 4 096 bytes of UTF-8); change it with `update`. */
  metadata?: string;
  signal?: AbortSignal;
  timeout?: number;
}

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
  #recipeHost: RecipeHost | undefined;
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
    checkPlainLockName(name);
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
    checkPlainLockName(name);
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
   * Wait to become leader of the election `name` (on every engine: the leader
   * holds the lock `@election/<name>`, candidates wait for it in order). Takes
   * `signal` and `timeout` like every wait, and `value`, published to
   * observers with the leadership. Rejects with UnsupportedError on a driver
   * without `capabilities.recipes` (lock directories).
   *
   * @example
   * ```ts
   * await using leadership = await coordinator.campaign('scheduler', { value: 'http://10.0.0.7:8080' });
   * await schedule({ term: leadership.term, signal: leadership.signal });
   * ```
   */
  campaign(name: string, options?: CampaignOptions): Promise<Leadership> {
    checkRecipeName(name, 'election');
    const { data, signal, timeout } = checkClaimOptions(options, 'value');
    return this.#recipe(() => campaign(this.#host, name, { value: data, signal, timeout }));
  }

  /**
   * Run `fn` while leader of `name`; resign however it ends. With `recampaign`,
   * a leadership lost while `fn` runs is campaigned for again and `fn` called
   * again; without, the call rejects with the loss.
   *
   * @example
   * ```ts
   * await coordinator.lead('scheduler', async (leadership) => {
   *   while (!leadership.signal.aborted) await tick(leadership.term);
   * }, { recampaign: true, signal: shutdown.signal });
   * ```
   */
  lead<R>(name: string, fn: (leadership: Leadership) => R | PromiseLike<R>, options?: LeadOptions): Promise<Awaited<R>> {
    checkRecipeName(name, 'election');
    checkFunction(fn, 'fn');
    const { data, signal } = checkClaimOptions(options, 'value', ['recampaign']);
    const recampaign = (options as { recampaign?: unknown } | undefined)?.recampaign;
    if (recampaign !== undefined && typeof recampaign !== 'boolean') throw invalidType('options.recampaign', 'a boolean', recampaign);
    const checked: LeadOptions = { ...(data === undefined ? {} : { value: data }), ...(signal === undefined ? {} : { signal }), recampaign: recampaign === true };
    return this.#recipe(() => lead(this.#host, name, fn, checked));
  }

  /**
   * The current leader of `name` (term, owner, since, value), or `undefined`.
   *
   * @example
   * ```ts
   * const current = await coordinator.leader('scheduler');
   * ```
   */
  leader(name: string): Promise<LeaderInfo | undefined> {
    checkRecipeName(name, 'election');
    return this.#recipe(() => leader(this.#host, name));
  }

  /**
   * The candidates waiting to lead `name`, next first; `undefined` when the
   * engine cannot tell who waits.
   *
   * @example
   * ```ts
   * const next = (await coordinator.candidates('scheduler'))?.[0];
   * ```
   */
  candidates(name: string): Promise<WaiterInfo[] | undefined> {
    checkRecipeName(name, 'election');
    return this.#recipe(() => candidates(this.#host, name));
  }

  /**
   * Every change of leader (or of its value) of `name`, starting with the
   * current state; push-based (the engine's watch), no polling. Ends when
   * `signal` aborts or the coordinator closes; throws SessionLostError if its
   * session is lost.
   *
   * @example
   * ```ts
   * for await (const { leader } of coordinator.observe('scheduler', { signal })) console.log(leader?.term, leader?.value);
   * ```
   */
  observe(name: string, options?: { signal?: AbortSignal }): AsyncGenerator<ElectionState, void, undefined> {
    checkRecipeName(name, 'election');
    const signal = checkSignalOption(options);
    this.#checkRecipes();
    return observe(this.#host, name, signal);
  }

  /**
   * Join the group `name` (on every engine: a shared claim on `@group/<name>`,
   * bound to this coordinator's session), with `metadata` for the others to read.
   *
   * @example
   * ```ts
   * await using membership = await coordinator.join('workers', { metadata: JSON.stringify({ slots: 4 }) });
   * ```
   */
  join(name: string, options?: JoinOptions): Promise<Membership> {
    checkRecipeName(name, 'group');
    const { data, signal, timeout } = checkClaimOptions(options, 'metadata');
    return this.#recipe(() => join(this.#host, name, { metadata: data, signal, timeout }));
  }

  /**
   * The members of the group `name` now, oldest first.
   *
   * @example
   * ```ts
   * const workers = await coordinator.members('workers');
   * ```
   */
  members(name: string): Promise<MemberInfo[]> {
    checkRecipeName(name, 'group');
    return this.#recipe(() => members(this.#host, name));
  }

  /**
   * The members of `name` present now (as joins), then every join, leave and
   * metadata update; push-based. Ends when `signal` aborts or the coordinator
   * closes; throws SessionLostError if its session is lost.
   *
   * @example
   * ```ts
   * for await (const { type, member } of coordinator.watchMembers('workers', { signal })) console.log(type, member.id);
   * ```
   */
  watchMembers(name: string, options?: { signal?: AbortSignal }): AsyncGenerator<MemberEvent, void, undefined> {
    checkRecipeName(name, 'group');
    const signal = checkSignalOption(options);
    this.#checkRecipes();
    return watchMembers(this.#host, name, signal);
  }

  /**
   * A counting semaphore of `permits` shared by every coordinator of this
   * engine and namespace (every process must pass the same `permits`). Each
   * permit has its own lease, fencing token and loss signal.
   *
   * @example
   * ```ts
   * const uploads = coordinator.semaphore('uploads', 4);
   * await using permit = await uploads.acquire({ timeout: 10_000 });
   * ```
   */
  semaphore(name: string, permits: number): DistributedSemaphore {
    checkRecipeName(name, 'semaphore');
    this.#checkRecipes();
    return new DistributedSemaphore(this.#host, name, permits);
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

  /** The recipes' way in (src/recipes/host.ts): claims with data on their reserved names. */
  get #host(): RecipeHost {
    return (this.#recipeHost ??= {
      backend: this.backend,
      capabilities: this.capabilities,
      ending: this.#ending.signal,
      silentExpiry: this.#driver.silentExpiry === true,
      claim: (name, { mode, signal, timeout, data, report }) => this.#track(this.#acquireOrReport(name, { mode, signal, timeout }, data, report)),
      tryClaim: (name, { mode, data }) => {
        const refused = this.#refusal(mode);
        return refused !== undefined ? Promise.reject(refused) : this.#track(this.#tryAcquire(name, mode, data));
      },
      holders: (name) => this.#driver.holders(name).then(serialisableAll),
      list: (prefix) => this.#driver.list(prefix).then(serialisableAll),
      survey: (prefix) => (this.#driver.survey === undefined ? Promise.resolve(undefined) : this.#driver.survey(prefix)),
      watchName: (name, onEvent) => this.#driver.watchName!(name, onEvent),
    });
  }

  /** Run a recipe call, unless the driver has no recipes or the coordinator closed. */
  #recipe<T>(call: () => Promise<T>): Promise<T> {
    try {
      this.#checkRecipes();
    } catch (error) {
      return Promise.reject(error);
    }
    return call();
  }

  #checkRecipes(): void {
    if (this.#closed !== undefined) throw this.#closedError();
    if (!this.capabilities.recipes || this.#driver.watchName === undefined) {
      throw new UnsupportedError(`the ${this.backend} driver has no elections, groups or semaphores; use a driver whose capabilities.recipes is true (memory, etcd, redis, postgres, zookeeper)`);
    }
  }

  /** An acquire, refused or waited for, publishing `deadbolt:lock:acquire-failed` when it fails. */
  async #acquireOrReport(name: string, options: CheckedAcquireOptions, data?: string, report = true): Promise<CoordinatorGuard> {
    const started = performance.now();
    try {
      const refused = this.#refusal(options.mode);
      if (refused !== undefined) throw refused;
      return await (options.timeout === 0 ? this.#tryOrTimeout(name, options, data) : this.#acquire(name, options, started, data));
    } catch (err) {
      if (report) reportAcquireFailure({ name, mode: options.mode, backend: this.backend, started, signal: options.signal }, err);
      throw err;
    }
  }

  async #acquire(name: string, { mode, signal, timeout }: CheckedAcquireOptions, started: number, data?: string): Promise<CoordinatorGuard> {
    publish(channels.lockWaiting, { name, mode, backend: this.backend });
    // Without a signal or a timeout of its own, only the coordinator's end can stop the wait, and
    // its signal serves as it is: no controller and no listener per acquire.
    const wait = signal === undefined && timeout === undefined ? undefined : new WaitSignal([signal, this.#ending.signal], timeout, `lock "${name}"`);
    const waitSignal = wait?.signal ?? this.#ending.signal;
    try {
      const local = await this.#local.acquire(name, { mode, signal: waitSignal });
      let lock: DriverLock;
      try {
        lock = await this.#driver.acquire(this.#request(name, mode, data), waitSignal);
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

  async #tryAcquire(name: string, mode: 'exclusive' | 'shared', data?: string): Promise<CoordinatorGuard | undefined> {
    const started = performance.now();
    const local = this.#local.tryAcquire(name, { mode });
    if (local === undefined) return undefined;
    let lock: DriverLock | undefined;
    try {
      lock = await this.#driver.tryAcquire(this.#request(name, mode, data));
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
  async #tryOrTimeout(name: string, options: CheckedAcquireOptions, data?: string): Promise<CoordinatorGuard> {
    options.signal?.throwIfAborted();
    const guard = await this.#tryAcquire(name, options.mode, data);
    if (guard !== undefined) return guard;
    throw new LockTimeoutError(`lock "${name}" was not available and timeout is 0`, 0);
  }

  /** Wrap a fresh grant in a guard, unless the coordinator closed or the session died meanwhile. */
  async #grant(name: string, mode: 'exclusive' | 'shared', lock: DriverLock, local: Guard, started: number): Promise<CoordinatorGuard> {
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

  #request(name: string, mode: 'exclusive' | 'shared', data?: string): LockRequest {
    const request = { session: this.session.driverSession, name, mode, owner: this.owner };
    return data === undefined ? request : { ...request, data };
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
