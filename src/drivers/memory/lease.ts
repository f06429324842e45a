/**
 * One lease of the memory engine: what a session is on etcd or ZooKeeper. It
 * lives until it expires (no renewal for `ttlMs` on the space's clock) or is
 * revoked, and takes its claims with it.
 *
 * Messages to the session (keepalive answers, watch events, its own loss) go
 * through `deliver`, so a test can cut the session off (`MemorySpace.pause`):
 * they are then kept, in order, and delivered when it is resumed.
 *
 * @internal
 * @module
 */
import type { ClockTimer } from '../../distributed/clock.js';
import type { MemoryClaim } from './claim.js';

/**
 * A lease and its claims.
 *
 * @example
 * ```ts
 * const lease = new Lease('tests-1', 1_000, clock.now());
 * lease.deliver(() => resolve());
 * ```
 */
export class Lease {
  alive = true;
  paused = false;
  expiresAt: number;
  timer: ClockTimer | undefined;
  /** Its claims, by claim id. */
  readonly claims = new Map<string, MemoryClaim>();
  onLost: ((cause: unknown) => void) | undefined;
  /** Messages kept while the session is cut off. */
  readonly #held: Array<() => void> = [];
  #claimIds = 0;

  constructor(
    readonly id: string,
    readonly ttlMs: number,
    now: number,
  ) {
    this.expiresAt = now + ttlMs;
  }

  /** A claim id never used before on this lease, unique in its space. */
  nextClaimId(): string {
    return `${this.id}/${++this.#claimIds}`;
  }

  /** Deliver a message to the session on a microtask (as a socket would, later), or keep it while the session is cut off. */
  deliver(message: () => void): void {
    if (this.paused) this.#held.push(message);
    else queueMicrotask(message);
  }

  /** Reconnect: deliver what was kept, in order. */
  resume(): void {
    this.paused = false;
    for (const message of this.#held.splice(0)) queueMicrotask(message);
  }
}
