/**
 * Every diagnostics channel deadbolt publishes on, in one table (undici style).
 *
 * Subscribe with `node:diagnostics_channel`; publishing costs one property read
 * when nobody listens. Channels cover named, fenced locks (lock directories and
 * coordinators) and sessions; the in-process primitives stay silent to keep
 * their hot path at the speed of a promise.
 *
 * Loss is never only published here: it also aborts the guard's `signal`.
 *
 * @example
 * ```ts
 * import diagnostics_channel from 'node:diagnostics_channel';
 * import { channels } from 'deadbolt';
 * diagnostics_channel.subscribe(channels.lockLost, (msg) => {
 *   const { name, token, reason } = msg as LockLostMessage;
 *   metrics.increment('lock_lost', { name, reason });
 * });
 * ```
 *
 * @module
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import type { LossReason } from './errors.js';

/**
 * The name of every channel. The table in `docs/diagnostics.md` gives each message's fields.
 *
 * @example
 * ```ts
 * diagnostics_channel.subscribe(channels.lockAcquired, (m) => console.log(m));
 * ```
 */
export const channels = {
  /** A caller started waiting for a named lock: {@link LockEventMessage} (no token yet). */
  lockWaiting: 'deadbolt:lock:waiting',
  /** A named lock was granted: {@link LockEventMessage} with `token` and `waitedMs`. */
  lockAcquired: 'deadbolt:lock:acquired',
  /** An acquire ended without the lock (timeout, abort, close, session loss, error): {@link LockAcquireFailedMessage}. */
  lockAcquireFailed: 'deadbolt:lock:acquire-failed',
  /** A named lock was released: {@link LockEventMessage} with `token` and `heldMs`. */
  lockReleased: 'deadbolt:lock:released',
  /** A held lock can no longer be trusted: {@link LockLostMessage}. */
  lockLost: 'deadbolt:lock:lost',
  /** An operator broke a lock: {@link LockBrokenMessage}. */
  lockBroken: 'deadbolt:lock:broken',
  /** A session was opened (its lease granted): {@link SessionMessage}. */
  sessionOpened: 'deadbolt:session:opened',
  /** The session cannot currently confirm its lease: {@link SessionMessage}. */
  sessionSuspended: 'deadbolt:session:suspended',
  /** The session confirmed its lease again after a suspension: {@link SessionMessage}. */
  sessionReconnected: 'deadbolt:session:reconnected',
  /** The session is gone; every lock it held is lost: {@link SessionMessage}. */
  sessionLost: 'deadbolt:session:lost',
  /** The session was closed by its coordinator (not lost): {@link SessionMessage}. */
  sessionClosed: 'deadbolt:session:closed',
  /** `clean()` removed a lock file: {@link FileCleanedMessage}. */
  fileCleaned: 'deadbolt:file:cleaned',
  /** Someone else deleted or replaced a lock file we hold: {@link ProtocolViolationMessage}. */
  fileProtocolViolation: 'deadbolt:file:protocol-violation',
  /** A Web Locks steal request in a lock directory was not proven, so the holder kept its lock: {@link StealRefusedMessage}. */
  webLocksStealRefused: 'deadbolt:web-locks:steal-refused',
} as const;

/**
 * Fields of the `lock:*` messages.
 *
 * @example
 * ```ts
 * const m: LockEventMessage = { name: 'jobs', mode: 'exclusive', backend: 'file', token: 3n, waitedMs: 1.2 };
 * ```
 */
export interface LockEventMessage {
  name: string;
  mode: 'exclusive' | 'shared';
  /** `'file'`, `'memory'`, `'etcd'`, … */
  backend: string;
  token?: bigint;
  waitedMs?: number;
  heldMs?: number;
}

/**
 * Fields of `deadbolt:lock:lost`.
 *
 * @example
 * ```ts
 * const m: LockLostMessage = { name: 'jobs', mode: 'exclusive', backend: 'etcd', token: 9n, heldMs: 1200, reason: 'expired' };
 * ```
 */
export interface LockLostMessage extends LockEventMessage {
  token: bigint;
  reason: LossReason;
}

/**
 * Why an acquire ended without the lock:
 *
 * - `timeout`: its `timeout` ran out (LockTimeoutError), `timeout: 0` included;
 * - `aborted`: the caller's `signal` aborted;
 * - `closed`: the lock directory or coordinator was closed (ClosedError);
 * - `session`: the coordinator's session was lost (SessionLostError);
 * - `error`: anything else (an unreachable engine, an unsupported mode, …).
 *
 * @example
 * ```ts
 * const reason: AcquireFailureReason = 'timeout';
 * ```
 */
export type AcquireFailureReason = 'timeout' | 'aborted' | 'closed' | 'session' | 'error';

/**
 * Fields of `deadbolt:lock:acquire-failed`.
 *
 * @example
 * ```ts
 * const m: LockAcquireFailedMessage = { name: 'jobs', mode: 'exclusive', backend: 'etcd', waitedMs: 5000, reason: 'timeout', error };
 * ```
 */
export interface LockAcquireFailedMessage {
  name: string;
  mode: 'exclusive' | 'shared';
  backend: string;
  /** How long the caller waited before it gave up or was refused. */
  waitedMs: number;
  reason: AcquireFailureReason;
  /** What the acquire rejected with. */
  error: unknown;
}

/**
 * Fields of `deadbolt:lock:broken`.
 *
 * @example
 * ```ts
 * const m: LockBrokenMessage = { name: 'jobs', backend: 'etcd', reason: 'stuck since Friday', by: 'ops@host', displaced: [] };
 * ```
 */
export interface LockBrokenMessage {
  name: string;
  backend: string;
  reason: string;
  by: string;
  displaced: unknown[];
}

/**
 * Fields of the `session:*` messages.
 *
 * @example
 * ```ts
 * const m: SessionMessage = { backend: 'etcd', sessionId: '694d7e4f…', ttlMs: 10_000 };
 * ```
 */
export interface SessionMessage {
  backend: string;
  sessionId: string;
  ttlMs: number;
  error?: unknown;
}

/**
 * Fields of `deadbolt:file:cleaned`.
 *
 * @example
 * ```ts
 * const m: FileCleanedMessage = { directory: '/run/locks', file: 'jobs', ageMs: 86_400_000 };
 * ```
 */
export interface FileCleanedMessage {
  directory: string;
  file: string;
  ageMs: number;
}

/**
 * Fields of `deadbolt:file:protocol-violation`.
 *
 * @example
 * ```ts
 * const m: ProtocolViolationMessage = { name: 'jobs', path: '/run/locks/jobs', found: 'missing' };
 * ```
 */
export interface ProtocolViolationMessage {
  name: string;
  path: string;
  /** What was found at the lock path instead of our file. */
  found: 'missing' | 'replaced' | 'unlinked';
}

/**
 * Fields of `deadbolt:web-locks:steal-refused`: which lock's steal request was
 * ignored, and why (deadbolt's words; the request's text is never repeated).
 *
 * @example
 * ```ts
 * const m: StealRefusedMessage = { directory: '/run/locks', name: 'jobs', why: "it is owned by uid 65534, neither the holder's uid nor root" };
 * ```
 */
export interface StealRefusedMessage {
  directory: string;
  name: string;
  why: string;
}

type ChannelName = (typeof channels)[keyof typeof channels];

const byName = new Map<ChannelName, diagnosticsChannel.Channel>();

/**
 * Publish `message` on `name` if anyone listens (a property read otherwise).
 * @internal
 */
export function publish(name: ChannelName, message: object): void {
  let channel = byName.get(name);
  if (channel === undefined) {
    channel = diagnosticsChannel.channel(name);
    byName.set(name, channel);
  }
  if (channel.hasSubscribers) channel.publish(message);
}
