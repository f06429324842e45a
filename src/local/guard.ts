/**
 * Guards: the proof of a grant, and the only way to give it back.
 *
 * A guard is handed to exactly one caller, so only that caller can release
 * (async-mutex's `release()` is callable by anyone; ours is not). Releasing is
 * idempotent: a second call, or a call after the primitive was closed, is a no-op.
 *
 * @module
 */

/**
 * A held grant of an in-process primitive. Release it once you are done, or let
 * `await using` do it.
 *
 * @example
 * ```ts
 * const mutex = new Mutex();
 * {
 *   await using guard = await mutex.acquire();
 *   // …critical section…
 * } // released here, even on throw
 * ```
 */
export interface Guard extends AsyncDisposable {
  /** Give the grant back. Idempotent: a second call is a no-op. */
  release(): Promise<void>;
  /** Whether `release()` was called. */
  readonly released: boolean;
}

/** Where a guard gives its permits back. @internal */
export interface PermitOwner {
  give(weight: number): void;
}

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * The guard of Semaphore, Mutex, RWLock and the keyed locks.
 *
 * @example
 * ```ts
 * const guard = await new Semaphore(2).acquire();
 * await guard.release();
 * guard.released; // true
 * ```
 */
export class LocalGuard implements Guard {
  #owner: PermitOwner | undefined;
  readonly #weight: number;

  /** @internal */
  constructor(owner: PermitOwner, weight: number) {
    this.#owner = owner;
    this.#weight = weight;
  }

  get released(): boolean {
    return this.#owner === undefined;
  }

  release(): Promise<void> {
    const owner = this.#owner;
    if (owner !== undefined) {
      this.#owner = undefined;
      owner.give(this.#weight);
    }
    return RESOLVED;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}

/**
 * Run `fn` while holding `guard`, releasing it however `fn` ends.
 * @internal
 */
export async function runHolding<G extends Guard, R>(guardPromise: Promise<G>, fn: (guard: G) => R | PromiseLike<R>): Promise<Awaited<R>> {
  const guard = await guardPromise;
  try {
    return await fn(guard);
  } finally {
    // A local guard gives its permits back synchronously (release() returns an already
    // resolved promise): awaiting it would only cost a microtask turn. Lock-file and
    // distributed guards really are asynchronous, and are awaited.
    if (guard instanceof LocalGuard) guard.release();
    else await guard.release();
  }
}
