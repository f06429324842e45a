/**
 * The driver contract: what a coordination engine (etcd, ZooKeeper, Redis,
 * PostgreSQL, a lock directory, memory) must provide so that the Coordinator
 * can give the same guarantees on every one of them.
 *
 * Division of labour (Curator's "recipes over a driver strategy"):
 * - the Coordinator owns the public API, argument checks, same-process queuing
 *   (one engine waiter per name per process), timeouts, guards, the loss signal
 *   and diagnostics;
 * - the Session (session.ts) owns liveness: keepalive at a fraction of the TTL,
 *   a local deadline, and the connected → suspended → lost states;
 * - a driver owns only the engine protocol: claim, wait by notification, token,
 *   conditional release, listing and breaking.
 *
 * @module
 */
import type { LossReason } from '../errors.js';
import type { LockInfo, LockOwner } from '../contracts/fenced-guard.js';
import type { ProbeTarget } from './reachability.js';

/**
 * What a driver can and cannot guarantee. A coordinator connected with
 * `require: [...]` fails at once if any required capability is false.
 *
 * @example
 * ```ts
 * const c = await connect('etcd://127.0.0.1:2379');
 * if (!c.capabilities.durableTokens) console.warn('tokens may repeat after an engine crash');
 * ```
 */
export interface Capabilities {
  /** Shared (reader) mode is supported. */
  shared: boolean;
  /** Fencing tokens keep increasing across a crash and restart of the engine. */
  durableTokens: boolean;
  /** A dead or paused holder loses the lock on the engine's clock (lease/TTL), not only when its process dies. */
  serverLease: boolean;
  /** Waiters are woken by the engine (watch, notification); no polling loop. */
  waitNotifications: boolean;
  /** `break(name)` is supported. */
  breakable: boolean;
  /**
   * Elections, groups and semaphores are supported: claims carry recipe data
   * and a name can be watched (`Driver.watchName`, `DriverLock.updateData`).
   */
  recipes: boolean;
  /** The smallest TTL the engine supports, in ms. */
  minTtlMs: number;
  /** Beyond the TTL, the most it takes for a dead holder's lock to become available, in ms. */
  recoveryBoundMs: number;
  /** Caveats a person should read (persistence settings seen at connect, …). */
  notes: string[];
}

/** The names of the boolean capabilities, usable in `connect(url, { require })`. */
export type CapabilityName = 'shared' | 'durableTokens' | 'serverLease' | 'waitNotifications' | 'breakable' | 'recipes';

/**
 * One lease with the engine. Every lock taken through a session is bound to it:
 * when the engine expires or revokes the lease, the locks go with it.
 *
 * @internal
 */
export interface DriverSession {
  /** The engine's id for the lease or session (for listings and diagnostics). */
  readonly id: string;
  /** The lease's TTL as granted by the engine, in ms. */
  readonly ttlMs: number;
  /**
   * True when there is no lease at all and liveness is the process itself (the
   * file driver: the kernel frees its locks when it dies). Such a session is
   * never renewed and never expires locally: a paused holder still holds.
   */
  readonly leaseless?: boolean;
  /**
   * One keepalive round trip. Resolves once the engine confirmed the lease is
   * alive (renewed for another TTL from the time the request was sent). Rejects
   * with SessionLostError if the engine says the lease is gone, with
   * BackendUnavailableError (or any other error) if it could not confirm.
   */
  keepAlive(): Promise<void>;
  /** Revoke the lease: the engine releases every lock of this session. Best effort, bounded in time. */
  revoke(): Promise<void>;
  /**
   * Engines that can tell us the session is gone without being asked (ZooKeeper's
   * session-expired event) call this. Set by the Session before any lock is taken.
   */
  onLost?: (cause: unknown) => void;
}

/**
 * How the previous holder of a name let go, as far as the engine can tell.
 *
 * @example
 * ```ts
 * const guard = await coordinator.acquire('jobs');
 * if (guard.predecessor?.outcome === 'broken') audit(guard.predecessor.breakRecord);
 * ```
 */
export interface PredecessorReport {
  outcome: 'released' | 'expired' | 'broken' | 'unknown';
  /** The predecessor's token, when known. */
  token?: bigint;
  /** Present when `outcome` is `'broken'`. */
  breakRecord?: BreakRecord;
}

/**
 * Who broke a lock, when and why: stored in the engine by `break()`.
 *
 * @example
 * ```ts
 * const record: BreakRecord = { reason: 'holder stuck since 09:00', by: 'alice@ops-1', at: new Date() };
 * ```
 */
export interface BreakRecord {
  reason: string;
  by: string;
  at: Date;
  /** The holders that were displaced. */
  displaced?: LockInfo[];
}

/**
 * A claim waiting for a lock, as an engine keeps it.
 *
 * @example
 * ```ts
 * const w: WaiterInfo = { mode: 'exclusive', owner: { id: 'a1', host: 'web-2', pid: 77 }, since: new Date() };
 * ```
 */
export interface WaiterInfo {
  mode: 'exclusive' | 'shared';
  owner: LockOwner;
  /** When it started waiting (engine or client clock), when the engine keeps it (Redis does not). */
  since?: Date;
}

/**
 * What an engine keeps about one name, for operators (`deadbolt ls`, `show`,
 * `serve`): its holders, the waiting claims in queue order (the next to be
 * granted first), and the last break record.
 *
 * @example
 * ```ts
 * for (const s of (await coordinator.survey('billing/')) ?? []) console.log(s.name, s.holders.length, s.waiters.length, s.lastBreak?.reason);
 * ```
 */
export interface LockSurvey {
  name: string;
  /** As `holders(name)` gives them. */
  holders: LockInfo[];
  /** Oldest first: the order in which the engine grants them (as far as modes allow). */
  waiters: WaiterInfo[];
  /** The break record the engine keeps for the name, if any. */
  lastBreak?: BreakRecord;
}

/**
 * A request for a lock, as the coordinator hands it to the driver, typed by
 * the driver's own session class `S` (the one its `openSession` returned).
 * @internal
 */
export interface LockRequest<S extends DriverSession = DriverSession> {
  readonly session: S;
  /** The lock name as the user gave it (the driver applies the namespace and any encoding). */
  readonly name: string;
  readonly mode: 'exclusive' | 'shared';
  readonly owner: LockOwner;
  /** Recipe data stored with the claim (a leader's value, a member's metadata); see LockInfo.data. */
  readonly data?: string;
}

/** A watch of a name's claims (Driver.watchName), stopped with `cancel()`. Not part of the public API. */
export interface NameWatch {
  cancel(): void;
}

/**
 * A lock the engine granted. @internal
 */
export interface DriverLock {
  /** Fencing token: strictly greater than every earlier grant of this name. */
  readonly token: bigint;
  /** When it was granted (engine or local clock). */
  readonly since: Date;
  /** How the previous holder let go, when the engine knows. */
  readonly predecessor?: PredecessorReport;
  /**
   * Call `listener` once when the driver observes that this lock is gone (key
   * deleted, broken, lease expired as seen by a watch), or at once if it has
   * already: a loss seen before anyone listens is never dropped. The guard
   * combines it with the session's loss. One listener per lock: the
   * coordinator's, set right after the grant. A listener rather than an
   * AbortSignal, because a signal per lock is a good part of what an
   * uncontended acquire costs on a fast engine, and nearly every lock is
   * released without being lost.
   */
  onLoss(listener: (reason: LossReason, detail: string) => void): void;
  /**
   * Remove our claim if and only if it is still ours (conditional on the token,
   * never a blind delete: etcd issue 22082). Resolves when the engine confirmed,
   * or when the claim was already gone (no error). Stops any watch of this lock.
   */
  release(): Promise<void>;
  /**
   * Replace the recipe data stored with this claim, conditionally on the claim
   * still being this grant's. Resolves `false` (nothing written) when it is
   * gone. Absent on drivers without recipe support (`Capabilities.recipes`).
   */
  updateData?(data: string): Promise<boolean>;
}

/**
 * A coordination engine behind the Coordinator. Implementations live in
 * `src/drivers/<name>/` and are loaded by URL scheme.
 *
 * @internal
 */
export interface Driver<S extends DriverSession = DriverSession> {
  /** `'memory'`, `'file'`, `'etcd'`, … */
  readonly backend: string;
  readonly capabilities: Capabilities;
  /** Grant a lease of `ttlMs` (the driver may round up to the engine's granularity). */
  openSession(ttlMs: number, owner: LockOwner): Promise<S>;
  /**
   * Claim `name` and wait until it is ours, woken by the engine (one waiter per
   * release, no herd). After waking, re-check that our own claim still exists.
   * On abort: withdraw the claim, then reject with `signal.reason`. Never leaves
   * a claim behind on any failure.
   */
  acquire(request: LockRequest<S>, signal: AbortSignal): Promise<DriverLock>;
  /** Claim `name` only if it can be granted at once; else withdraw and resolve `undefined`. */
  tryAcquire(request: LockRequest<S>): Promise<DriverLock | undefined>;
  /** Every current holder of every lock whose name starts with `prefix`. */
  list(prefix: string): Promise<LockInfo[]>;
  /** The current holders of `name`. */
  holders(name: string): Promise<LockInfo[]>;
  /**
   * Read only: every name starting with `prefix` that has holders, waiting
   * claims or a kept break record, by name, read in bulk (a number of requests
   * that does not grow with the number of names where the engine allows it).
   * Absent on drivers whose engine cannot tell who waits (a lock directory: the
   * kernel does not say); callers then use `list()` and show waiters as
   * unknown, never as none.
   */
  survey?(prefix: string): Promise<LockSurvey[]>;
  /**
   * Displace the current holders of `name` (revoke their lease or delete their
   * claim), store `record` so the next holder can read it, and return who was displaced.
   * With `expect` (ascending tokens), only if the holders are exactly those,
   * compared in the same atomic step as the deletion (a transaction's compare,
   * a script, a row lock, node versions); otherwise reject with
   * HolderChangedError (`assertExpectedHolders`) and change nothing.
   */
  break(name: string, record: BreakRecord, expect?: readonly bigint[]): Promise<LockInfo[]>;
  /** Close the client connection. Sessions were revoked before this is called. */
  /**
   * Watch every claim of `name`: `onEvent` is called when one is created,
   * deleted or has its data replaced, or when the driver may have missed such
   * news (`'uncertain'`). Resolves once armed; a change after that is never
   * missed. One-shot: the caller cancels after the first event and arms again.
   * Absent without `Capabilities.recipes`.
   */
  watchName?(name: string, onEvent: (event: 'changed' | 'uncertain') => void): Promise<NameWatch>;
  /** True when an expired claim vanishes without an event `watchName` reports (Redis); see Engine.silentExpiry. */
  readonly silentExpiry?: boolean;
  close(): Promise<void>;
}

/**
 * Options of `connect()`, also handed to drivers.
 *
 * @example
 * ```ts
 * await connect('etcd://10.0.0.1:2379,10.0.0.2:2379', { ttl: 10_000, namespace: 'billing', require: ['durableTokens'] });
 * ```
 */
export interface ConnectOptions {
  /** Session TTL in ms: how long a silent holder keeps its locks (default 15 000). */
  ttl?: number;
  /** Prefix for every key the coordinator writes (default `'deadbolt'`). */
  namespace?: string;
  /** How this process appears in listings (defaults: random id, host name, pid, command line). */
  identity?: Partial<LockOwner>;
  /** Capabilities the caller relies on: connecting fails with ConfigurationError when one is missing. */
  require?: CapabilityName[];
  /** How long to wait for the engine before BackendUnavailableError (default 5 000 ms). */
  connectTimeout?: number;
  /** Driver-specific options passed through to the client library (auth, TLS, …). */
  driverOptions?: Record<string, unknown>;
}

/**
 * One `host:port` of a URL's host list.
 *
 * @example
 * ```ts
 * const endpoint: Endpoint = { host: '10.0.0.1', port: 2379 };
 * ```
 */
export interface Endpoint {
  /** A host name, an IPv4 address, or an IPv6 address without brackets. */
  host: string;
  port: number;
}

/**
 * What `connect()` hands a driver factory: the checked options, with defaults applied.
 *
 * @internal
 */
export interface DriverOptions extends ConnectOptions {
  namespace: string;
  connectTimeout: number;
  ttl: number;
  /**
   * Every `host:port` of the URL, in order. WHATWG `URL` cannot parse a host list
   * (`etcd://h1:2379,h2:2379` is an invalid URL), so for such schemes the `url`
   * argument carries only the first endpoint and this carries all of them.
   * Empty for schemes without hosts (`memory:`, `file:`).
   */
  endpoints: Endpoint[];
  /**
   * Aborted when `connectTimeout` has passed, or when every endpoint refused:
   * stop connecting and release what was opened.
   */
  signal: AbortSignal;
  /**
   * Drivers whose client retries refused connections on its own call this with
   * every endpoint the client dials (and its TLS options there): `connect()`
   * then fails at once, naming each cause, when all of them refuse
   * (ECONNREFUSED, ENOTFOUND, TLS), instead of waiting out `connectTimeout`.
   * Absent when a driver is created outside `connect()`.
   */
  probe?: (targets: readonly ProbeTarget[]) => void;
}

/**
 * What a driver module exports: a factory from a parsed URL and the checked options.
 * `connect()` calls it under `connectTimeout` (see `DriverOptions.signal`).
 *
 * @internal
 */
export type DriverFactory = (url: URL, options: DriverOptions) => Promise<Driver>;

/**
 * The shape of `src/drivers/<name>/index.ts`: `connect()` imports it when its
 * scheme is used, and calls `createDriver` (a `default` export is accepted too).
 *
 * @internal
 */
export interface DriverModule {
  createDriver: DriverFactory;
}
