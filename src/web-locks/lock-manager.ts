/**
 * LockManager: `request()` and `query()` as the W3C Web Locks specification
 * defines them, over a scope (threads of one process, processes of one host,
 * hosts). This file holds the specification's steps that do not depend on the
 * scope: argument conversion and checks in the specification's order, the
 * callback's invocation (always after `request()` returned) and the promise
 * that settles with the callback's result once the lock is released, or
 * rejects with an AbortError the moment the lock is stolen.
 *
 * @module
 */
import type { Coordinator } from '../distributed/coordinator.js';
import type { LockDirectory } from '../file/lock-directory.js';
import { CoordinatorScope } from './coordinator-scope.js';
import { DirectoryScope } from './directory-scope.js';
import type { Lock, LockMode } from './lock.js';
import { notSupported, type GrantSink, type HeldLock, type LockManagerSnapshot, type LockScope, type ScopeRequest } from './scope.js';
import { threadScope } from './thread-scope.js';

/**
 * The options of `request()` (the specification's LockOptions).
 *
 * @example
 * ```ts
 * const options: LockOptions = { mode: 'shared', signal: AbortSignal.timeout(1000) };
 * ```
 */
export interface LockOptions {
  mode?: LockMode;
  /** Grant only if grantable now; else the callback gets `null`. */
  ifAvailable?: boolean;
  /** Take the lock from its holders (their `request()` rejects with AbortError). */
  steal?: boolean;
  /** Abort while waiting: rejects with `signal.reason`. Has no effect once granted. */
  signal?: AbortSignal;
}

/**
 * The callback of `request()`: gets the lock (or `null` for `ifAvailable` when busy); the lock is
 * held until the value it returns settles.
 *
 * @example
 * ```ts
 * const work: LockGrantedCallback<number> = async (lock) => (lock ? compute() : 0);
 * ```
 */
export type LockGrantedCallback<T> = (lock: Lock | null) => T | PromiseLike<T>;

/**
 * Options of the cross-process and cross-host managers.
 *
 * @example
 * ```ts
 * LockManager.forCoordinator(coordinator, { allowSteal: true });
 * ```
 */
export interface StealOptions {
  /** Allow `steal: true`: an operator's break, recorded (default false: NotSupportedError). */
  allowSteal?: boolean;
}

/**
 * Options of {@link LockManager.forDirectory}.
 *
 * @example
 * ```ts
 * LockManager.forDirectory(new LockDirectory('/run/myapp/locks'), { allowSteal: true, stealTimeout: 5000 });
 * ```
 */
export interface DirectoryStealOptions extends StealOptions {
  /**
   * With `allowSteal`: how long (ms) a steal waits for a holder in another
   * process to give the lock up before it fails with a LockTimeoutError that
   * names `deadbolt break` (default 10 000). `allowSteal` also makes this
   * manager's holders give their locks up to a proven steal request.
   */
  stealTimeout?: number;
}

const DEFAULT_STEAL_TIMEOUT_MS = 10_000;

const MODES: readonly string[] = ['exclusive', 'shared'];

/**
 * The Web Locks API over one scope. Obtain one with {@link LockManager.forThreads},
 * {@link LockManager.forDirectory} or {@link LockManager.forCoordinator}.
 *
 * @example
 * ```ts
 * import { LockManager } from 'deadbolt/web-locks';
 * const locks = LockManager.forThreads(); // the same locks in every worker thread
 * await locks.request('cache', async (lock) => refresh());
 * ```
 */
export class LockManager {
  readonly #scope: LockScope;

  /** @internal Use the static factories. */
  constructor(scope: LockScope) {
    this.#scope = scope;
  }

  /**
   * The worker threads of this process: a drop-in for Node 24's `navigator.locks`
   * on Node 20, 22 and 24. A thread that exits or is terminated releases its locks.
   *
   * @example
   * ```ts
   * const locks = LockManager.forThreads();
   * await locks.request('jobs', () => runJob());
   * ```
   */
  static forThreads(): LockManager {
    return threadManager ??= new LockManager(threadScope());
  }

  /**
   * The processes of this host that share `lockDirectory` (kernel locks). The
   * callback's lock is a {@link FencedLock}.
   *
   * @example
   * ```ts
   * const locks = LockManager.forDirectory(new LockDirectory('/run/myapp/locks'));
   * await locks.request('migrate', (lock) => migrate((lock as FencedLock).token));
   * ```
   */
  static forDirectory(lockDirectory: LockDirectory, options?: DirectoryStealOptions): LockManager {
    return new LockManager(new DirectoryScope(lockDirectory, options?.allowSteal === true, stealTimeout(options?.stealTimeout)));
  }

  /**
   * The hosts that share `coordinator`'s engine. The callback's lock is a
   * {@link FencedLock}; `steal` (if allowed) is `coordinator.break()`.
   *
   * @example
   * ```ts
   * const locks = LockManager.forCoordinator(await connect('etcd://10.0.0.5:2379'));
   * await locks.request('leader-only', () => work());
   * ```
   */
  static forCoordinator(coordinator: Coordinator, options?: StealOptions): LockManager {
    return new LockManager(new CoordinatorScope(coordinator, options?.allowSteal === true));
  }

  /**
   * Request lock `name` and run `callback` holding it; resolves with the
   * callback's result after the lock is released. Never throws: every error
   * is a rejection, as for a WebIDL promise-returning operation.
   *
   * @example
   * ```ts
   * const n = await locks.request('counter', { mode: 'exclusive' }, async () => increment());
   * await locks.request('maybe', { ifAvailable: true }, (lock) => (lock ? work() : 'busy'));
   * ```
   */
  request<T>(name: string, callback: LockGrantedCallback<T>): Promise<Awaited<T>>;
  request<T>(name: string, options: LockOptions, callback: LockGrantedCallback<T>): Promise<Awaited<T>>;
  request(name: unknown, optionsOrCallback?: unknown, callback?: unknown): Promise<unknown> {
    let pending: PendingRequest;
    try {
      pending = arguments.length >= 3 ? convert(name, optionsOrCallback, callback) : convert(name, undefined, optionsOrCallback);
    } catch (err) {
      return Promise.reject(err);
    }
    const promise = promiseOf(pending);
    this.#scope.acquire(pending, pending);
    return promise;
  }

  /**
   * What is held and pending in this scope now, as the specification's snapshot.
   *
   * @example
   * ```ts
   * const { held, pending } = await locks.query();
   * for (const l of held) console.log(l.name, l.mode, l.clientId);
   * ```
   */
  query(): Promise<LockManagerSnapshot> {
    return this.#scope.query();
  }

}

const RESOLVED = Promise.resolve();

// `new Promise(capture)` with one shared executor instead of a closure per
// request: `capturing` names the request whose promise is being made.
let capturing: PendingRequest | undefined;
function capture(resolve: (value: unknown) => void, reject: (err: unknown) => void): void {
  capturing!.settleWith(resolve, reject);
}

/** The promise `request()` returns for `pending`. */
function promiseOf(pending: PendingRequest): Promise<unknown> {
  capturing = pending;
  const promise = new Promise(capture);
  capturing = undefined;
  return promise;
}

/**
 * Granted requests whose callbacks are due, oldest first. Each grant queues
 * one microtask that runs the oldest due callback: microtasks run in order, so
 * the k-th runs the k-th grant's, exactly as a closure per grant would, without
 * the closure.
 */
const due: (PendingRequest | undefined)[] = [];
let dueHead = 0;

function invokeNext(): void {
  const next = due[dueHead]!;
  due[dueHead++] = undefined;
  if (dueHead === due.length) {
    due.length = 0;
    dueHead = 0;
  }
  next.invoke();
}

/**
 * One request from `request()` to its promise's settlement: the checked
 * request a scope works on, and the sink it reports to. One object with
 * methods rather than several with closures, since thousands may wait at once.
 */
class PendingRequest implements ScopeRequest, GrantSink {
  readonly name: string;
  readonly mode: LockMode;
  readonly ifAvailable: boolean;
  readonly steal: boolean;
  readonly signal: AbortSignal | undefined;
  readonly #callback: LockGrantedCallback<unknown>;
  #resolve: ((value: unknown) => void) | undefined;
  #reject: ((err: unknown) => void) | undefined;
  #held: HeldLock | null = null;
  #settled = false;

  constructor(name: string, mode: LockMode, ifAvailable: boolean, steal: boolean, signal: AbortSignal | undefined, callback: LockGrantedCallback<unknown>) {
    this.name = name;
    this.mode = mode;
    this.ifAvailable = ifAvailable;
    this.steal = steal;
    this.signal = signal;
    this.#callback = callback;
  }

  /** The functions of the promise `request()` returns. */
  settleWith(resolve: (value: unknown) => void, reject: (err: unknown) => void): void {
    this.#resolve = resolve;
    this.#reject = reject;
  }

  granted(held: HeldLock | null): void {
    this.#held = held;
    // Always after request() returned, in a microtask, like the specification's queued task.
    // (A resolved promise's then: Node's queueMicrotask costs an async resource per call.)
    due.push(this);
    void RESOLVED.then(invokeNext);
  }

  failed(err: unknown): void {
    if (!this.#settled) this.#reject!(err);
    this.#settled = true;
  }

  displaced(reason: unknown): void {
    this.failed(reason);
  }

  /** Run the callback (from {@link invokeNext}, once per grant). */
  invoke(): void {
    let result: unknown;
    try {
      result = this.#callback(this.#held === null ? null : this.#held.lock);
    } catch (err) {
      this.#finish(false, err);
      return;
    }
    if (isThenable(result)) {
      Promise.resolve(result).then(
        (value) => this.#finish(true, value),
        (err) => this.#finish(false, err),
      );
    } else {
      this.#finish(true, result);
    }
  }

  /** Release, then settle with the callback's outcome (or the release's failure). */
  #finish(ok: boolean, value: unknown): void {
    const released = this.#held?.release();
    this.#held = null;
    if (released === undefined) this.#settle(ok, value);
    else released.then(() => this.#settle(ok, value), (err: unknown) => this.#settle(false, err));
  }

  #settle(ok: boolean, value: unknown): void {
    if (!this.#settled) (ok ? this.#resolve! : this.#reject!)(value);
    this.#settled = true;
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as { then?: unknown }).then === 'function';
}

let threadManager: LockManager | undefined;

function stealTimeout(ms: unknown): number {
  if (ms === undefined) return DEFAULT_STEAL_TIMEOUT_MS;
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0) {
    throw new RangeError(`options.stealTimeout: expected a positive number of milliseconds, got ${typeof ms === 'number' ? ms : typeof ms}`);
  }
  return ms;
}

/** The specification's argument conversion and checks, in its order. */
function convert(name: unknown, options: unknown, callback: unknown): PendingRequest {
  if (typeof name === 'symbol') throw new TypeError('name: a Symbol cannot be converted to a string');
  const lockName = String(name);
  if (options !== undefined && options !== null && typeof options !== 'object' && typeof options !== 'function') {
    throw new TypeError(`options: expected an object (LockOptions), got ${typeof options}`);
  }
  // No options: WebIDL's empty dictionary, every member its default (and nothing read, not even Object.prototype's).
  if (options === undefined || options === null) {
    checkCallbackAndName(callback, lockName);
    return new PendingRequest(lockName, 'exclusive', false, false, undefined, callback as LockGrantedCallback<unknown>);
  }
  const o = options as Record<string, unknown>;
  // WebIDL converts dictionary members in lexicographic order.
  const ifAvailable = Boolean(o.ifAvailable);
  const mode = o.mode === undefined ? 'exclusive' : String(o.mode);
  if (!MODES.includes(mode)) throw new TypeError(`options.mode: '${mode}' is not a valid LockMode (expected 'exclusive' or 'shared')`);
  const signal = o.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError('options.signal: expected an AbortSignal');
  const steal = Boolean(o.steal);
  checkCallbackAndName(callback, lockName);
  if (steal && ifAvailable) throw notSupported('steal and ifAvailable cannot both be true');
  if (steal && mode !== 'exclusive') throw notSupported('steal requires mode "exclusive"');
  if (signal !== undefined && (steal || ifAvailable)) throw notSupported('signal cannot be combined with steal or ifAvailable');
  if (signal?.aborted) throw signal.reason;
  return new PendingRequest(lockName, mode as LockMode, ifAvailable, steal, signal as AbortSignal | undefined, callback as LockGrantedCallback<unknown>);
}

/** The checks that come after the options', in the specification's order. */
function checkCallbackAndName(callback: unknown, lockName: string): asserts callback is LockGrantedCallback<unknown> {
  if (typeof callback !== 'function') throw new TypeError(`callback: expected a function (LockGrantedCallback), got ${callback === null ? 'null' : typeof callback}`);
  if (lockName.startsWith('-')) throw notSupported(`lock names starting with "-" are reserved: "${lockName}"`);
}
