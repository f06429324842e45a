/**
 * The Driver the Coordinator sees, for every engine on the recipe core: lock
 * requests go to the core (waiter.ts, held-lock.ts), listings, surveys and
 * breaks too (listing.ts, break-lock.ts, on the engine's `scan` and `breakHolders`). `acquire` and `tryAcquire` are separate paths:
 * `tryAcquire` uses the engine's one-round-trip `claimIfFree` when it has one
 * and never waits.
 *
 * @internal
 * @module
 */
import type { LockInfo, LockOwner } from '../contracts/lock-info.js';
import type { BreakRecord, Capabilities, Driver, DriverLock, DriverSession, LockRequest, LockSurvey, NameWatch } from '../distributed/driver.js';
import { retrying } from './backoff.js';
import { CoreContext } from './context.js';
import { breakLock } from './break-lock.js';
import type { ClaimsRead, EngineClaim, Engine } from './engine.js';
import { HeldLock } from './held-lock.js';
import { listHolders, nameHolders, surveyLocks } from './listing.js';
import { OwnWatch } from './own-watch.js';
import type { ScannedClaim } from './scan.js';
import { Waiter } from './waiter.js';

/**
 * A Driver built from an Engine's primitives.
 *
 * @example
 * ```ts
 * export const createDriver: DriverFactory = async (url, options) =>
 *   new RecipeDriver(new EtcdEngine(await openClient(parseEtcdUrl(url, options), options.signal), options.namespace));
 * ```
 */
export class RecipeDriver<S extends DriverSession, C extends EngineClaim, R extends ClaimsRead<C>, P extends ScannedClaim = ScannedClaim> implements Driver<S> {
  readonly backend: string;
  readonly capabilities: Capabilities;
  /** @internal The backend's primitives; tests and tools of this package only. */
  readonly engine: Engine<S, C, R, P>;
  readonly #ctx: CoreContext<S, C, R>;

  constructor(engine: Engine<S, C, R, P>) {
    this.engine = engine;
    this.backend = engine.backend;
    this.capabilities = engine.capabilities;
    this.#ctx = new CoreContext(engine);
  }

  /** Claims the reaper is still deleting (for tests: nothing should stay behind). */
  get reaping(): number {
    return this.#ctx.reaper.pending;
  }

  openSession(ttlMs: number, owner: LockOwner): Promise<S> {
    return this.engine.openLease(ttlMs, owner);
  }

  /** Claim and wait; a claim that vanished while its session lives is made again. */
  async acquire(request: LockRequest<S>, signal: AbortSignal): Promise<DriverLock> {
    signal.throwIfAborted();
    for (;;) {
      const outcome = await new Waiter(this.#ctx, this.#ctx.attempt(request)).run(signal, true);
      if (outcome !== 'vanished' && outcome !== undefined) return outcome;
    }
  }

  /** Claim only if granted at once; never waits, leaves nothing behind. */
  async tryAcquire(request: LockRequest<S>): Promise<DriverLock | undefined> {
    const attempt = this.#ctx.attempt(request);
    const { engine } = this;
    if (engine.claimIfFree === undefined || !(engine.fastTryModes ?? [request.mode]).includes(request.mode)) {
      const outcome = await new Waiter(this.#ctx, attempt).run(undefined, false);
      return outcome === 'vanished' ? undefined : outcome;
    }
    let claim: C | undefined;
    try {
      claim = await retrying(engine, request.session.ttlMs, undefined, `claiming "${request.name}"`, () => engine.claimIfFree!(attempt));
    } catch (error) {
      this.#ctx.reapUnconfirmed(attempt); // the claim may have been written
      throw error;
    }
    if (claim === undefined) return undefined;
    return new HeldLock(this.#ctx, attempt, claim, new OwnWatch(engine, attempt, claim, undefined, () => {}));
  }

  list(prefix: string): Promise<LockInfo[]> {
    return listHolders(this.engine, prefix);
  }

  holders(name: string): Promise<LockInfo[]> {
    return nameHolders(this.engine, name);
  }

  survey(prefix: string): Promise<LockSurvey[]> {
    return surveyLocks(this.engine, prefix);
  }

  break(name: string, record: BreakRecord, expect?: readonly bigint[]): Promise<LockInfo[]> {
    return breakLock(this.engine, name, record, expect);
  }

  get silentExpiry(): boolean {
    return this.engine.silentExpiry === true;
  }

  watchName(name: string, onEvent: (event: 'changed' | 'uncertain') => void): Promise<NameWatch> {
    return this.engine.watchName(name, onEvent);
  }

  async close(): Promise<void> {
    this.#ctx.reaper.close();
    await this.engine.close();
  }
}
