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

/** @internal */
export interface LockScope {
  /**
   * Grant `request` (synchronously when that is possible), `null` when
   * `ifAvailable` and it is not grantable now. Rejects with the signal's reason
   * when aborted while waiting. `displaced(reason)` is called if the grant is
   * taken away (a steal) while held.
   */
  acquire(request: ScopeRequest, displaced: (reason: unknown) => void): HeldLock | null | Promise<HeldLock | null>;
  query(): Promise<LockManagerSnapshot>;
}

/** The specification's DOMExceptions. @internal */
export function notSupported(message: string): DOMException {
  return new DOMException(message, 'NotSupportedError');
}

/** @internal */
export function stolenError(name: string): DOMException {
  return new DOMException(`lock "${name}" was stolen by a request with steal: true`, 'AbortError');
}
