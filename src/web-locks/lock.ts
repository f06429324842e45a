/**
 * The `Lock` a Web Locks callback receives: `{ name, mode }` as the
 * specification defines it, and on the scopes that have them (a lock directory,
 * a coordinator) also `token` and `signal`, as extra properties that code
 * written for the standard signature never has to look at.
 *
 * @module
 */

/**
 * `'exclusive'` or `'shared'`, the specification's LockMode.
 *
 * @example
 * ```ts
 * const mode: LockMode = readOnly ? 'shared' : 'exclusive';
 * ```
 */
export type LockMode = 'exclusive' | 'shared';

const CONSTRUCT = Symbol('deadbolt.web-locks.Lock');

/**
 * A granted lock, as the callback of `LockManager.request` sees it. Like the
 * platform's, it cannot be constructed by user code.
 *
 * @example
 * ```ts
 * await locks.request('cache', { mode: 'shared' }, (lock) => {
 *   console.log(lock?.name, lock?.mode); // 'cache' 'shared'
 * });
 * ```
 */
export class Lock {
  readonly #name: string;
  readonly #mode: LockMode;

  /** @internal Illegal for user code (TypeError), as on the platform. */
  constructor(key: symbol, name: string, mode: LockMode) {
    if (key !== CONSTRUCT) throw new TypeError('Illegal constructor');
    this.#name = name;
    this.#mode = mode;
  }

  /** The name passed to `request()`. */
  get name(): string {
    return this.#name;
  }

  /** The mode it was granted in. */
  get mode(): LockMode {
    return this.#mode;
  }
}

/**
 * A lock granted across processes or hosts: also a fencing token and a loss
 * signal (aborted, reason `LockLostError`, when the lock can no longer be
 * trusted: broken by an operator or a `steal`, its session lost, …).
 *
 * @example
 * ```ts
 * await locks.request('ledger', async (lock) => {
 *   const { token, signal } = lock as FencedLock;
 *   await db.write(row, { token, signal });
 * });
 * ```
 */
export class FencedLock extends Lock {
  /** Strictly greater than every earlier grant of this name. */
  readonly token: bigint;
  /** Aborted the moment the lock is lost. */
  readonly signal: AbortSignal;

  /** @internal */
  constructor(key: symbol, name: string, mode: LockMode, token: bigint, signal: AbortSignal) {
    super(key, name, mode);
    this.token = token;
    this.signal = signal;
  }
}

/** @internal */
export function createLock(name: string, mode: LockMode): Lock {
  return new Lock(CONSTRUCT, name, mode);
}

/** @internal */
export function createFencedLock(name: string, mode: LockMode, token: bigint, signal: AbortSignal): FencedLock {
  return new FencedLock(CONSTRUCT, name, mode, token, signal);
}
