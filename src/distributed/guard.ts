/**
 * The guard of a distributed lock: a FencedGuard bound to one engine claim, one
 * same-process permit and the session both live on.
 *
 * What "held" means: from the grant until `release()` or the first loss, which
 * is whichever comes first of: the session is lost (`'session'`), the driver
 * observes the claim gone (`'deleted'`, `'expired'`, `'broken'`), or this
 * coordinator breaks it (`'broken'`). Loss aborts `signal` with LockLostError.
 *
 * On loss the same-process permit is given back at once (others may hold the
 * lock now anyway, and a holder that never releases must not wedge this
 * process's queue); the engine claim is left for `release()`, which stays
 * conditional on the token and so deletes nothing that is not ours.
 *
 * @module
 */
import type { LossReason } from '../errors.js';
import { BaseFencedGuard, type FencedGuard } from '../contracts/fenced-guard.js';
import type { Guard } from '../local/guard.js';
import type { DriverLock, PredecessorReport } from './driver.js';
import type { Session } from './session.js';

/**
 * A lock held through a Coordinator.
 *
 * @example
 * ```ts
 * await using guard = await coordinator.acquire('invoices');
 * if (guard.predecessor?.outcome === 'expired') await repairHalfDoneWork();
 * await writeWithToken(guard.token, { signal: guard.signal });
 * ```
 */
export interface DistributedGuard extends FencedGuard {
  /** How the previous holder let go, when the engine can tell. */
  readonly predecessor: PredecessorReport | undefined;
  /** When the engine granted the lock. */
  readonly since: Date;
}

/** What the coordinator hands a new guard. @internal */
export interface GuardParts {
  name: string;
  mode: 'exclusive' | 'shared';
  backend: string;
  waitedMs: number;
  lock: DriverLock;
  local: Guard;
  session: Session;
  /** Called once the guard is released, so the coordinator stops tracking it. */
  onRelease: (guard: CoordinatorGuard) => void;
}

/**
 * The Coordinator's guard implementation (the public type is DistributedGuard).
 *
 * @internal
 * @example
 * ```ts
 * const guard = await coordinator.acquire('jobs');
 * guard.signal.addEventListener('abort', () => stopWriting());
 * await guard.release();
 * ```
 */
export class CoordinatorGuard extends BaseFencedGuard implements DistributedGuard {
  readonly predecessor: PredecessorReport | undefined;
  readonly since: Date;
  readonly #lock: DriverLock;
  readonly #local: Guard;
  readonly #session: Session;
  readonly #onRelease: (guard: CoordinatorGuard) => void;

  /** @internal */
  constructor(parts: GuardParts) {
    super(parts.name, parts.mode, parts.lock.token, parts.backend, parts.waitedMs);
    this.predecessor = parts.lock.predecessor;
    this.since = parts.lock.since;
    this.#lock = parts.lock;
    this.#local = parts.local;
    this.#session = parts.session;
    this.#onRelease = parts.onRelease;
    parts.lock.onLoss((reason: LossReason, detail: string) =>
      this.markLost(reason, `lock "${this.name}" (token ${this.token}) was lost: ${detail}`),
    );
  }

  /**
   * Aborted with LockLostError once the lock can no longer be trusted. Reading
   * it checks the session's deadline first, so code resuming after a pause sees
   * the loss before the late timer fires.
   */
  override get signal(): AbortSignal {
    this.#session.checkDeadline();
    return super.signal;
  }

  /**
   * Replace the recipe data stored with this claim (elections, groups), if it
   * is still this grant's: `false` when it is not, or the driver keeps none.
   * @internal
   */
  updateData(data: string): Promise<boolean> {
    if (this.released || this.lost || this.#lock.updateData === undefined) return Promise.resolve(false);
    return this.#lock.updateData(data);
  }

  /** @internal */
  override markLost(reason: LossReason, message: string, cause?: unknown): void {
    if (this.lost || this.released) return;
    super.markLost(reason, message, cause);
    void this.#local.release();
  }

  protected async releaseLock(): Promise<void> {
    try {
      // Conditional on our token in every driver: after a loss it deletes nothing of a newer holder.
      await this.#lock.release();
    } catch (err) {
      // After a loss the claim is gone or going; the loss itself was reported on `signal`.
      if (!this.lost) throw err;
    } finally {
      await this.#local.release();
      this.#onRelease(this);
    }
  }
}
