/**
 * What a LockManager needs from the layer under it: grant a request (or say
 * it is not available now), and describe what is held and pending. The
 * specification's argument checks and callback handling live in
 * lock-manager.ts, once for every scope.
 *
 * @internal
 * @module
 */
import type { Lock, LockMode } from './lock.js';

/**
 * `query()`'s answer: the specification's LockManagerSnapshot.
 *
 * @example
 * ```ts
 * const { held, pending }: LockManagerSnapshot = await locks.query();
 * ```
 */
export interface LockManagerSnapshot {
  held: LockInfo[];
  pending: LockInfo[];
}

/**
 * One held or pending request in a snapshot.
 *
 * @example
 * ```ts
 * const info: LockInfo = { name: 'jobs', mode: 'exclusive', clientId: 'node-4242-0' };
 * ```
 */
export interface LockInfo {
  name: string;
  mode: LockMode;
  /** Who made the request: on threads `node-<pid>-<threadId>` (as Node's own), else the holder's owner id. */
  clientId: string;
}

/** A request after the specification's checks. @internal */
export interface ScopeRequest {
  readonly name: string;
  readonly mode: LockMode;
  readonly ifAvailable: boolean;
  readonly steal: boolean;
  readonly signal: AbortSignal | undefined;
}

/** A granted request. @internal */
export interface HeldLock {
  readonly lock: Lock;
  /** Give it back (a no-op after it was stolen). */
  release(): void | Promise<void>;
}

/** Where a scope reports what became of one request. @internal */
export interface GrantSink {
  /** Granted (`null`: `ifAvailable` and not grantable now). Called at most once. */
  granted(held: HeldLock | null): void;
  /** Not granted: the signal's reason when aborted while waiting, or the scope's error. */
  failed(err: unknown): void;
  /** The grant was taken away while held (a steal, a loss): `request()` rejects with `reason`. */
  displaced(reason: unknown): void;
}

/** @internal */
export interface LockScope {
  /** Work on `request`, reporting to `sink` (synchronously when that is possible). Never throws. */
  acquire(request: ScopeRequest, sink: GrantSink): void;
  query(): Promise<LockManagerSnapshot>;
}

/** An async scope's grant, reported to `sink`. @internal */
export function report(granted: Promise<HeldLock | null>, sink: GrantSink): void {
  granted.then(
    (held) => sink.granted(held),
    (err: unknown) => sink.failed(err),
  );
}

/** The specification's DOMExceptions. @internal */
export function notSupported(message: string): DOMException {
  return new DOMException(message, 'NotSupportedError');
}

/** @internal */
export function stolenError(name: string): DOMException {
  return new DOMException(`lock "${name}" was stolen by a request with steal: true`, 'AbortError');
}
