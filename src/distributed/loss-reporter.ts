/**
 * The `onLost` half of DriverLock, shared by every engine driver.
 *
 * A driver can observe a loss (a watch event, a break message) in the window
 * between the grant and the moment the coordinator sets `onLost`; such a loss
 * is kept and delivered as soon as the handler is set, never dropped.
 *
 * @internal
 * @module
 */
import type { LossReason } from '../errors.js';

type LossHandler = (reason: LossReason, detail: string) => void;

/**
 * Base class of drivers' held locks: holds the coordinator's handler and any
 * loss seen before it was set.
 *
 * @internal
 * @example
 * ```ts
 * class MyHeldLock extends LossReporter implements DriverLock {
 *   onWatchDelete() { this.reportLoss('deleted', 'our key was deleted'); }
 * }
 * ```
 */
export abstract class LossReporter {
  #handler: LossHandler | undefined;
  #pending: [LossReason, string] | undefined;

  get onLost(): LossHandler | undefined {
    return this.#handler;
  }

  /** Set by the coordinator right after the grant; a loss seen before is delivered now. */
  set onLost(handler: LossHandler | undefined) {
    this.#handler = handler;
    const pending = this.#pending;
    if (handler !== undefined && pending !== undefined) {
      this.#pending = undefined;
      handler(...pending);
    }
  }

  /** Tell the coordinator this lock is lost, now or as soon as it listens. Callers report each loss once. */
  protected reportLoss(reason: LossReason, detail: string): void {
    if (this.#handler !== undefined) this.#handler(reason, detail);
    else this.#pending = [reason, detail];
  }
}
