/**
 * One claim of the memory engine, as the space stores it and as the recipe
 * core holds it: the core hands back the very object the space made, so the
 * space's conditional delete is an identity check (a claim's token never
 * changes, and ids are never reused).
 *
 * A claim is watched by callbacks, each delivered through the watcher's own
 * lease, so a cut-off session hears of a deletion only when it is resumed.
 *
 * @internal
 * @module
 */
import type { LockOwner } from '../../contracts/lock-info.js';
import type { ClaimMode, ClaimWatch, EngineClaim, WatchEvent } from '../../core/engine.js';
import type { PredecessorReport } from '../../distributed/driver.js';
import type { Lease } from './lease.js';

/** One watch: who is told, on which lease. */
interface Watcher {
  readonly lease: Lease;
  readonly onEvent: (event: WatchEvent) => void;
}

/**
 * A claim: its place in the queue (`order`, also its token), mode, owner and
 * lease, and once it is gone, how it went.
 *
 * @example
 * ```ts
 * const watch = claim.watch(lease, (event) => console.log(event)); // 'gone', once
 * ```
 */
export class MemoryClaim implements EngineClaim {
  /** Engine time of the grant, for listings (the claim's creation until a waiter is granted). */
  since: number;
  /** How it went, once it is gone (why its holder lost it). */
  departure: PredecessorReport | undefined;
  readonly token: bigint;
  readonly predecessor?: PredecessorReport;
  /** The recipe data stored with it (a leader's value, a member's metadata), replaced by `updateData`. */
  data: string | undefined;
  readonly #watchers = new Set<Watcher>();

  constructor(
    readonly key: string,
    readonly id: string,
    readonly lease: Lease,
    readonly order: bigint,
    readonly mode: ClaimMode,
    readonly owner: LockOwner,
    since: number,
    predecessor: PredecessorReport | undefined,
    data?: string,
  ) {
    this.token = order;
    this.data = data;
    this.since = since;
    if (predecessor !== undefined) this.predecessor = predecessor;
  }

  /** Whether the space has deleted it. */
  get gone(): boolean {
    return this.departure !== undefined;
  }

  /** Tell `onEvent` (through `lease`) when this claim is deleted; at once if it already is. */
  watch(lease: Lease, onEvent: (event: WatchEvent) => void): ClaimWatch {
    let active = true;
    const watcher: Watcher = { lease, onEvent: (event) => active && onEvent(event) };
    if (this.gone) lease.deliver(() => watcher.onEvent('gone'));
    else this.#watchers.add(watcher);
    return {
      cancel: () => {
        active = false;
        this.#watchers.delete(watcher);
      },
    };
  }

  /** The space deleted it: record how, and tell every watcher. */
  depart(report: PredecessorReport): void {
    this.departure = report;
    for (const watcher of this.#watchers) watcher.lease.deliver(() => watcher.onEvent('gone'));
    this.#watchers.clear();
  }
}
