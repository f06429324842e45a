/**
 * One claim from its creation to its grant or withdrawal: the wait every
 * recipe shares (Curator's LockInternals, etcd's `concurrency.Mutex`).
 *
 * Ordering. The engine orders the claim when it creates it; the core only
 * compares order keys (blocker.ts). A claim granted at once costs the create
 * alone when the engine read the queue in the same round trip. An engine that
 * assigns the token at the grant hands the completed claim back with the read
 * that granted it (`ClaimsRead.claim`): the held lock and its release use that one.
 *
 * Waiting. A waiter watches the one claim that blocks it (never the whole
 * queue: a release wakes only the waiters it unblocks), and our own claim.
 * On every wake it re-reads the queue ahead of it, and that read fails when our
 * own claim is gone (the bug Jepsen found in etcd's lock): a claim that
 * vanished while the session lives is made again, one whose session is gone
 * fails the wait. Wakes that arrive while nobody waits are kept (the strongest
 * wins), and dropped only when a read that started after them answers them.
 *
 * Withdrawing. On abort (signal, timeout, session loss, close), or when
 * `tryAcquire` finds the name taken, the claim is deleted conditionally; if the
 * engine cannot confirm, the reaper keeps trying. Nothing is left behind.
 *
 * @internal
 * @module
 */
import type { DriverSession, PredecessorReport } from '../distributed/driver.js';
import { retrying } from './backoff.js';
import { blocker } from './blocker.js';
import type { CoreContext } from './context.js';
import type { ClaimRequest, ClaimsRead, EngineClaim, WatchEvent } from './engine.js';
import { HeldLock } from './held-lock.js';
import { OwnWatch } from './own-watch.js';

/** Why a waiter woke up, weakest first. */
type Wake = 'gone' | 'uncertain' | 'vanished' | 'aborted';
const RANK: Record<Wake, number> = { gone: 0, uncertain: 1, vanished: 2, aborted: 3 };

/** The waiter's outcome: the lock, `undefined` (taken, with `wait` false), or our claim vanished (claim again). */
export type WaitOutcome<S extends DriverSession, C extends EngineClaim, R extends ClaimsRead<C>> = HeldLock<S, C, R> | undefined | 'vanished';

/**
 * One claim attempt.
 *
 * @example
 * ```ts
 * const outcome = await new Waiter(ctx, ctx.attempt(request)).run(signal, true);
 * ```
 */
export class Waiter<S extends DriverSession, C extends EngineClaim, R extends ClaimsRead<C>> {
  readonly #ctx: CoreContext<S, C, R>;
  readonly #request: ClaimRequest<S>;
  #claim: C | undefined;
  #own: OwnWatch<S, C> | undefined;
  #wake: ((why: Wake) => void) | undefined;
  /** The strongest wake that arrived while nobody was waiting for one. */
  #missed: Wake | undefined;
  /** Counts wakes, so a read answers only those that came before it started. */
  #wakes = 0;

  constructor(ctx: CoreContext<S, C, R>, request: ClaimRequest<S>) {
    this.#ctx = ctx;
    this.#request = request;
  }

  /** Claim, wait (if `wait`), and hand over to a HeldLock; or withdraw. */
  async run(signal: AbortSignal | undefined, wait: boolean): Promise<WaitOutcome<S, C, R>> {
    const onAbort = (): void => this.#signal('aborted');
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      let read = await this.#create(signal);
      let waited: C | undefined;
      let report: Promise<PredecessorReport> | undefined;
      for (;;) {
        if (read === undefined || this.#missed === 'vanished') return await this.#vanished();
        if (read.claim !== undefined) this.#claim = read.claim; // completed at its grant (the token filled in)
        if (signal?.aborted) throw await this.#withdraw(signal.reason);
        const pred = blocker(read.ahead, this.#claim!);
        if (pred === undefined) break;
        if (!wait) {
          await this.#withdraw(undefined);
          return undefined;
        }
        const why = await this.#waitFor(pred, read.at);
        if (why === 'aborted') throw await this.#withdraw(signal?.reason);
        if (why === 'vanished') return await this.#vanished();
        const next = this.#check(signal);
        // asked alongside the re-check, so the report costs no extra wait
        if (why === 'gone') [waited, report] = [pred, this.#report(pred, next)];
        read = await next;
        // claims older than ours only ever disappear: a blocker not read again was deleted
        if (why !== 'gone' && read !== undefined && !read.ahead.some((c) => c.order === pred.order)) {
          [waited, report] = [pred, this.#report(pred, Promise.resolve(read))];
        }
      }
      const predecessor = await report;
      if (this.#vanishedMeanwhile()) return await this.#vanished();
      const lock = new HeldLock(this.#ctx, this.#request, this.#claim!, this.#own!, predecessor);
      this.#own = undefined; // the held lock owns the watch now
      if (waited !== undefined) this.#ctx.engine.granted?.(this.#request, this.#claim!).catch(() => {});
      return lock;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.#own?.cancel();
    }
  }

  /** The create (retried while the engine is transiently unavailable), then our own watch. */
  async #create(signal: AbortSignal | undefined): Promise<R | undefined> {
    const { engine } = this.#ctx;
    let created;
    try {
      created = await retrying(engine, this.#request.session.ttlMs, signal, `claiming "${this.#request.name}"`, () =>
        engine.createClaim(this.#request),
      );
    } catch (error) {
      this.#ctx.reapUnconfirmed(this.#request); // the create may have been applied
      throw error;
    }
    this.#claim = created.claim;
    this.#own = new OwnWatch(engine, this.#request, created.claim, created.read?.at, (event) => this.#onOwn(event));
    return created.read ?? this.#check(signal);
  }

  /** Re-read the queue ahead of us; `undefined` when our claim is gone. */
  async #check(signal: AbortSignal | undefined): Promise<R | undefined> {
    const { engine } = this.#ctx;
    const before = this.#wakes;
    let read: R | undefined;
    try {
      read = await retrying(engine, this.#request.session.ttlMs, signal, `waiting for "${this.#request.name}"`, () =>
        engine.readAhead(this.#request, this.#claim!),
      );
    } catch (error) {
      this.#ctx.reapClaim(this.#request, this.#claim!);
      throw error;
    }
    if (read === undefined) return undefined;
    // our claim existed at this read: an own watch lost to a reconnection restarts here
    if (!this.#own!.active) this.#own!.restart(read.at);
    if (this.#wakes === before && (this.#missed === 'gone' || this.#missed === 'uncertain')) this.#missed = undefined;
    return read;
  }

  /** Wait for the blocker to go, our own claim to vanish, or abort. */
  async #waitFor(pred: C, at: bigint | undefined): Promise<Wake> {
    if (this.#missed !== undefined) return this.#take();
    const watch = this.#ctx.engine.watchClaim(this.#request, pred, at, (event) => this.#signal(event));
    try {
      return await new Promise<Wake>((resolve) => {
        if (this.#missed !== undefined) return resolve(this.#take()); // reported while the watch was set
        this.#wake = resolve;
      });
    } finally {
      this.#wake = undefined;
      watch.cancel();
    }
  }

  #onOwn(event: WatchEvent): void {
    this.#signal(event === 'gone' ? 'vanished' : 'uncertain');
  }

  #signal(why: Wake): void {
    this.#wakes++;
    const wake = this.#wake;
    if (wake !== undefined) {
      this.#wake = undefined;
      wake(why);
    } else if (this.#missed === undefined || RANK[why] > RANK[this.#missed]) {
      this.#missed = why;
    }
  }

  /** Whether our own claim was reported gone while nobody waited (read fresh: awaits happened since). */
  #vanishedMeanwhile(): boolean {
    return this.#missed === 'vanished';
  }

  #take(): Wake {
    const why = this.#missed!;
    this.#missed = undefined;
    return why;
  }

  /** How `pred` let go; never fails (an engine that cannot tell says `'unknown'`). */
  #report(pred: C, read: Promise<R | undefined>): Promise<PredecessorReport> {
    return this.#ctx.engine
      .predecessor(this.#request, pred, read)
      .catch((): PredecessorReport => ({ outcome: 'unknown', token: pred.token }));
  }

  /** Our claim disappeared while waiting: a lost session fails the wait, otherwise claim again. */
  async #vanished(): Promise<'vanished'> {
    this.#own?.cancel();
    this.#own = undefined;
    await this.#ctx.engine.claimVanished(this.#request, this.#claim!);
    return 'vanished';
  }

  /** Delete our claim (conditionally), then hand back `reason` for the caller to throw. */
  async #withdraw(reason: unknown): Promise<unknown> {
    this.#own?.cancel();
    this.#own = undefined;
    await this.#ctx.deleteOrReap(this.#request, this.#claim!).catch(() => {});
    return reason;
  }
}
