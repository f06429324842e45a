/**
 * What a recipe needs from its coordinator: claims with data on reserved
 * names, the same reads operators get, and a watch of a name. The Coordinator
 * provides it (coordinator.ts); the recipes hold no engine state of their own,
 * so every guarantee of a lock (the local queue, cancellation, fencing, loss on
 * pause or session expiry, conditional release) is a guarantee of theirs too.
 *
 * @internal
 * @module
 */
import type { LockInfo } from '../contracts/lock-info.js';
import type { Capabilities, LockSurvey, NameWatch } from '../distributed/driver.js';
import type { DistributedGuard } from '../distributed/guard.js';

/** What a recipe claim is waited for with. */
export interface ClaimOptions {
  readonly mode: 'exclusive' | 'shared';
  readonly signal?: AbortSignal | undefined;
  readonly timeout?: number | undefined;
  /** Stored with the claim (LockInfo.data). */
  readonly data?: string | undefined;
  /**
   * `false`: publish no `lock:acquire-failed` for this claim: the recipe reports its own failure
   * once (a semaphore's acquire is a queue claim and several permit waits, most of them
   * withdrawn on purpose).
   */
  readonly report?: boolean;
}

/** A held recipe claim: a lock guard whose stored data can be replaced. */
export interface RecipeGuard extends DistributedGuard {
  /** Whether `release()` was called. */
  readonly released: boolean;
  /** Replace the data stored with the claim; `false` when the claim is no longer this grant's. */
  updateData(data: string): Promise<boolean>;
}

/**
 * A coordinator, as the recipes see it.
 *
 * @example
 * ```ts
 * const guard = await host.claim('@election/jobs', { mode: 'exclusive', data: 'http://10.0.0.7' });
 * ```
 */
export interface RecipeHost {
  readonly backend: string;
  readonly capabilities: Readonly<Capabilities>;
  /** Aborted when the coordinator closes (ClosedError) or its session is lost (SessionLostError). */
  readonly ending: AbortSignal;
  /** Wait for `name` as `acquire` does (timeout 0: only if free now), storing `data` with the claim. */
  claim(name: string, options: ClaimOptions): Promise<RecipeGuard>;
  /** The claim if the engine grants it at once, else `undefined`. */
  tryClaim(name: string, options: ClaimOptions): Promise<RecipeGuard | undefined>;
  holders(name: string): Promise<LockInfo[]>;
  list(prefix: string): Promise<LockInfo[]>;
  /** `undefined` when the engine cannot tell who waits. */
  survey(prefix: string): Promise<LockSurvey[] | undefined>;
  /** Whether expired claims vanish without a watch event (Driver.silentExpiry). */
  readonly silentExpiry: boolean;
  /** Armed when it resolves; one-shot (name-changes.ts re-arms). */
  watchName(name: string, onEvent: (event: 'changed' | 'uncertain') => void): Promise<NameWatch>;
}
