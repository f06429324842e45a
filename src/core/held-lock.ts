/**
 * A lock the recipe core granted: its token, its own loss signal, and the
 * conditional release. The one place loss state lives for a held claim.
 *
 * Held means: the engine keeps our claim with its token. The watch of our own
 * claim (taken over from the wait, see own-watch.ts) reports `'gone'`; the
 * engine then says why (`diagnoseLoss`: broken, expired, deleted), bounded in
 * time so a slow engine delays the report by at most a second. An
 * `'uncertain'` watch is answered by re-reading our claim and watching again.
 * Expiry of the session does not depend on any of this: the Session's local
 * deadline comes first, and the guard listens to both signals.
 *
 * Loss is a kept state, not only an event: a loss seen before the guard
 * listens is reported the moment it listens, never dropped (the race the old
 * LossReporter had to patch cannot happen). The guard listens with `onLoss`;
 * an AbortSignal is made only for whoever asks for `signal` (tests, tools), so
 * the lock that is released without being lost (nearly all) costs none.
 *
 * @internal
 * @module
 */
import { LockLostError, type LossReason } from '../errors.js';
import type { DriverLock, DriverSession, PredecessorReport } from '../distributed/driver.js';
import { backoffMs, pause } from './backoff.js';
import type { CoreContext } from './context.js';
import type { ClaimRequest, ClaimsRead, EngineClaim, WatchEvent } from './engine.js';
import type { OwnWatch } from './own-watch.js';

/** The longest we wait to learn why a lock was lost before reporting it anyway. */
const DIAGNOSIS_BOUND_MS = 1_000;

/**
 * A granted claim.
 *
 * @example
 * ```ts
 * lock.signal.addEventListener('abort', () => console.error(lock.signal.reason));
 * await lock.release(); // deletes the claim only if it is still this grant's
 * ```
 */
export class HeldLock<S extends DriverSession, C extends EngineClaim, R extends ClaimsRead<C>> implements DriverLock {
  readonly token: bigint;
  readonly since = new Date();
  readonly predecessor?: PredecessorReport;
  readonly #ctx: CoreContext<S, C, R>;
  readonly #request: ClaimRequest<S>;
  readonly #claim: C;
  readonly #own: OwnWatch<S, C>;
  /** Why the lock was lost, once it was. */
  #loss: [LossReason, string] | undefined;
  #listener: ((reason: LossReason, detail: string) => void) | undefined;
  /** Made on the first read of `signal`. */
  #lost: AbortController | undefined;
  #state: 'held' | 'lost' | 'released' = 'held';
  #release: Promise<void> | undefined;

  constructor(ctx: CoreContext<S, C, R>, request: ClaimRequest<S>, claim: C, own: OwnWatch<S, C>, predecessor?: PredecessorReport) {
    this.#ctx = ctx;
    this.#request = request;
    this.#claim = claim;
    this.token = claim.token;
    const report = predecessor ?? claim.predecessor; // the wait's report, else what the grant itself saw
    if (report !== undefined) this.predecessor = report;
    this.#own = own;
    own.route((event) => this.#onOwn(event));
    if (!own.active) void this.#verify(); // its last event arrived during the hand-over
  }

  /** Aborted with LockLostError when the engine shows the claim gone. */
  get signal(): AbortSignal {
    if (this.#lost === undefined) {
      this.#lost = new AbortController();
      if (this.#loss !== undefined) this.#lost.abort(this.#lostError(...this.#loss));
    }
    return this.#lost.signal;
  }

  /** Call `listener` when the claim is lost, or now if it was (DriverLock's contract). */
  onLoss(listener: (reason: LossReason, detail: string) => void): void {
    if (this.#loss !== undefined) listener(...this.#loss);
    else this.#listener = listener;
  }

  /**
   * Delete our claim if it is still this grant's (never a blind delete).
   * Already gone is success. When the engine cannot confirm, the reaper keeps
   * trying and the error is reported, unless the lock was lost already.
   */
  release(): Promise<void> {
    this.#release ??= this.#releaseOnce();
    return this.#release;
  }

  /** Replace the recipe data stored with our claim, if it is still this grant's; `false` when it is not. */
  async updateData(data: string): Promise<boolean> {
    if (this.#state !== 'held') return false;
    try {
      return await this.#ctx.engine.updateData(this.#request, this.#claim, data);
    } catch (error) {
      throw this.#ctx.engine.mapError(error, `updating the data of "${this.#request.name}"`);
    }
  }

  async #releaseOnce(): Promise<void> {
    const wasLost = this.#state === 'lost';
    this.#state = 'released';
    this.#own.cancel();
    try {
      await this.#ctx.deleteOrReap(this.#request, this.#claim);
    } catch (error) {
      if (!wasLost) throw this.#ctx.engine.mapError(error, `releasing "${this.#request.name}"`);
    }
  }

  #onOwn(event: WatchEvent): void {
    if (event === 'gone') void this.#gone();
    else void this.#verify();
  }

  /** Our claim is gone: find out why (bounded; at once when the engine knows), then report the loss. */
  async #gone(): Promise<void> {
    if (this.#state !== 'held') return;
    this.#own.cancel();
    const diagnosis = this.#ctx.engine.diagnoseLoss(this.#request, this.#claim);
    const [reason, detail] = Array.isArray(diagnosis)
      ? diagnosis
      : await within<[LossReason, string]>(DIAGNOSIS_BOUND_MS, diagnosis, [
          'deleted',
          `the claim was deleted on ${this.#ctx.engine.backend} (it did not say why in time)`,
        ]);
    this.#lose(reason, detail);
  }

  /** The watch may have missed events: read our claim; watch again from that read if it is still ours. */
  async #verify(): Promise<void> {
    for (let attempt = 0; this.#state === 'held'; attempt++) {
      try {
        const read = await this.#ctx.engine.readAhead(this.#request, this.#claim);
        if (this.#state !== 'held') return;
        if (read === undefined) return void (await this.#gone());
        this.#own.restart(read.at);
        return;
      } catch (error) {
        // the Session's deadline covers an engine we cannot reach; keep trying until then
        if (!this.#ctx.engine.isTransient(error)) {
          return this.#lose('deleted', `cannot verify the claim: ${(error as Error).message}`);
        }
        await pause(backoffMs(attempt));
      }
    }
  }

  #lose(reason: LossReason, detail: string): void {
    if (this.#state !== 'held') return;
    this.#state = 'lost';
    this.#loss = [reason, detail];
    this.#listener?.(reason, detail);
    this.#lost?.abort(this.#lostError(reason, detail));
  }

  #lostError(reason: LossReason, detail: string): LockLostError {
    return new LockLostError(detail, { lockName: this.#request.name, token: this.token, reason });
  }

}

/** `promise`'s value, or `fallback` if it takes longer than `ms` or fails. */
async function within<T>(ms: number, promise: Promise<T>, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((resolve) => (timer = setTimeout(() => resolve(fallback), ms).unref()));
  try {
    return await Promise.race([promise.catch(() => fallback), late]);
  } finally {
    clearTimeout(timer);
  }
}
