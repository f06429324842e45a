/**
 * A lease of the memory engine, as the Session (src/distributed/session.ts)
 * sees it. Its requests travel like a network engine's: they reach the space
 * on a later microtask, or, while the session is cut off (`MemorySpace.pause`),
 * when it is resumed; so are their answers.
 *
 * @internal
 * @module
 */
import { SessionLostError } from '../../errors.js';
import type { DriverSession } from '../../distributed/driver.js';
import type { Lease } from './lease.js';
import type { MemorySpace } from './space.js';

/**
 * One memory lease.
 *
 * @example
 * ```ts
 * const session = new MemorySession(space, space.grantLease(1_000));
 * await session.keepAlive();
 * ```
 */
export class MemorySession implements DriverSession {
  onLost?: (cause: unknown) => void;
  readonly #space: MemorySpace;
  readonly #lease: Lease;

  constructor(space: MemorySpace, lease: Lease) {
    this.#space = space;
    this.#lease = lease;
    lease.onLost = (cause) => this.onLost?.(cause);
  }

  get id(): string {
    return this.#lease.id;
  }

  get ttlMs(): number {
    return this.#lease.ttlMs;
  }

  keepAlive(): Promise<void> {
    return this.#send(() => {
      if (!this.#space.renew(this.#lease)) throw new SessionLostError(`memory lease ${this.#lease.id} is gone`);
    });
  }

  revoke(): Promise<void> {
    return this.#send(() => this.#space.endLease(this.#lease, 'released'));
  }

  /** A request on the lease: it arrives now, or when a paused session is resumed; its answer travels back the same way. */
  #send(request: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#lease.deliver(() => {
        try {
          request();
          this.#lease.deliver(resolve);
        } catch (err) {
          this.#lease.deliver(() => reject(err));
        }
      });
    });
  }
}
