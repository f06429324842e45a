/**
 * The watch of our own claim, from its creation until its release: while
 * waiting it tells the waiter that its claim vanished; once granted it tells
 * the held lock that the lock is lost. One engine watch for both, routed to
 * whoever owns the claim now, so the grant costs no new watch request.
 *
 * @internal
 * @module
 */
import type { DriverSession } from '../distributed/driver.js';
import type { ClaimRequest, ClaimWatch, ClaimsRead, EngineClaim, Engine, WatchEvent } from './engine.js';

/**
 * Our claim's watch, with a handler that can change hands.
 *
 * @example
 * ```ts
 * const own = new OwnWatch(engine, request, claim, read.at, (event) => waiter.onOwn(event));
 * own.route((event) => held.onOwn(event)); // at the grant
 * ```
 */
export class OwnWatch<S extends DriverSession, C extends EngineClaim> {
  readonly #engine: Engine<S, C, ClaimsRead<C>>;
  readonly #request: ClaimRequest<S>;
  readonly #claim: C;
  #handler: (event: WatchEvent) => void;
  #watch: ClaimWatch | undefined;
  #turn: object | undefined;

  constructor(
    engine: Engine<S, C, ClaimsRead<C>>,
    request: ClaimRequest<S>,
    claim: C,
    at: bigint | undefined,
    handler: (event: WatchEvent) => void,
  ) {
    this.#engine = engine;
    this.#request = request;
    this.#claim = claim;
    this.#handler = handler;
    this.restart(at);
  }

  /** Whether an engine watch is running (false after `'uncertain'` until `restart`). */
  get active(): boolean {
    return this.#turn !== undefined;
  }

  /** Send later events to `handler`. */
  route(handler: (event: WatchEvent) => void): void {
    this.#handler = handler;
  }

  /** Watch again from `at` (a position at which our claim was read to exist). */
  restart(at: bigint | undefined): void {
    this.#watch?.cancel();
    const turn = {}; // identifies this engine watch, even if it reports before watchClaim returns
    this.#turn = turn;
    const watch = this.#engine.watchClaim(this.#request, this.#claim, at, (event) => {
      if (this.#turn !== turn) return;
      // after either event this engine watch answers no more: the owner re-reads and restarts it
      this.#turn = undefined;
      this.#watch?.cancel();
      this.#watch = undefined;
      this.#handler(event);
    });
    if (this.#turn === turn) this.#watch = watch;
    else watch.cancel();
  }

  /** Stop watching. */
  cancel(): void {
    this.#turn = undefined;
    this.#watch?.cancel();
    this.#watch = undefined;
  }
}
