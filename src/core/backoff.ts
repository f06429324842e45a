/**
 * The one backoff of the recipe core: every retry of an engine call (a claim
 * while the engine is unreachable, a re-check after an uncertain watch, a
 * withdrawal the reaper keeps trying) waits `backoffMs(attempt)` between tries.
 * Drivers used to carry seven variants of it; a single formula keeps the
 * load a reconnecting fleet puts on an engine predictable.
 *
 * @internal
 * @module
 */
import { BackendUnavailableError } from '../errors.js';

/** First pause, in ms: short, since most engine hiccups (leader change) last tens of ms. */
export const FIRST_PAUSE_MS = 50;
/** Longest pause, in ms: a lease renews every third of its TTL (≥ 2 s), so longer pauses could outlast it. */
export const MAX_PAUSE_MS = 1_000;

/**
 * The pause before retry number `attempt` (0-based): 50 ms doubling to 1 s.
 *
 * @example
 * ```ts
 * backoffMs(0); // 50
 * backoffMs(5); // 1000
 * ```
 */
export function backoffMs(attempt: number): number {
  return Math.min(FIRST_PAUSE_MS * 2 ** Math.min(attempt, 16), MAX_PAUSE_MS);
}

/**
 * Wait `ms` without keeping the process alive; resolves early when `signal` aborts.
 *
 * @example
 * ```ts
 * await pause(backoffMs(attempt), signal);
 * ```
 */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    timer.unref();
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** What `retrying` needs to know about the engine. */
export interface RetryPolicy {
  readonly backend: string;
  isTransient(error: unknown): boolean;
  mapError(error: unknown, doing: string): Error;
}

/**
 * Run `call`, retrying transient failures with the core's backoff for at most
 * `budgetMs` (one session TTL: past that the session is lost anyway). An abort
 * stops the retries and rejects with `signal.reason`. A non-transient error, or
 * the budget spent, rejects with the engine's mapped error.
 *
 * @example
 * ```ts
 * const read = await retrying(engine, ttlMs, signal, 'waiting for "jobs"', () => engine.readAhead(request, own));
 * ```
 */
export async function retrying<T>(
  policy: RetryPolicy,
  budgetMs: number,
  signal: AbortSignal | undefined,
  doing: string,
  call: () => Promise<T>,
): Promise<T> {
  const giveUpAt = performance.now() + budgetMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      const transient = policy.isTransient(error);
      if (transient && signal?.aborted) throw signal.reason;
      const wait = backoffMs(attempt);
      if (!transient || performance.now() + wait > giveUpAt) {
        throw transient
          ? new BackendUnavailableError(`${policy.backend} unavailable for ${budgetMs} ms while ${doing}`, { cause: error })
          : policy.mapError(error, doing);
      }
      await pause(wait, signal);
      if (signal?.aborted) throw signal.reason;
    }
  }
}
