/**
 * What every part of the recipe core shares for one driver: the engine, the
 * reaper of claims it could not delete, and the conversions between the
 * Coordinator's requests and the engine's claim attempts.
 *
 * @internal
 * @module
 */
import type { DriverSession, LockRequest } from '../distributed/driver.js';
import type { ClaimRequest, ClaimsRead, EngineClaim, Engine } from './engine.js';
import { Reaper } from './reaper.js';

/**
 * One driver's core state.
 *
 * @example
 * ```ts
 * const ctx = new CoreContext(engine);
 * const attempt = ctx.attempt(request);
 * ```
 */
export class CoreContext<S extends DriverSession, C extends EngineClaim, R extends ClaimsRead<C>> {
  readonly engine: Engine<S, C, R>;
  readonly reaper = new Reaper();

  constructor(engine: Engine<S, C, R>) {
    this.engine = engine;
  }

  /** A fresh claim attempt for `request`, with an id the engine minted. */
  attempt(request: LockRequest<S>): ClaimRequest<S> {
    const { session, name, mode, owner, data } = request;
    const attempt = { session, id: this.engine.claimId(session), name, mode, owner };
    return data === undefined ? attempt : { ...attempt, data };
  }

  /** Delete `claim` now; if the engine cannot confirm, keep trying in the background and rethrow. */
  async deleteOrReap(request: ClaimRequest<S>, claim: C): Promise<void> {
    try {
      await this.engine.deleteClaim(request, claim);
    } catch (error) {
      this.reapClaim(request, claim);
      throw error;
    }
  }

  /** Keep deleting `claim` in the background until the engine confirms. */
  reapClaim(request: ClaimRequest<S>, claim: C): void {
    this.reaper.withdraw(`${request.session.id}/${request.id}`, () => this.engine.deleteClaim(request, claim));
  }

  /** Keep deleting whatever claim `request.id` made (its create was not answered). */
  reapUnconfirmed(request: ClaimRequest<S>): void {
    this.reaper.withdraw(`${request.session.id}/${request.id}`, () => this.engine.withdrawUnconfirmed(request));
  }
}
