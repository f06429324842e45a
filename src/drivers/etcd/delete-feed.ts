/**
 * One watch for every claim of a driver: the DELETE events of the whole
 * `<namespace>/locks/` range, on one etcd watcher opened at the first claim,
 * dispatched by key to whoever subscribed (a waiter watching its blocker, a
 * holder watching its own claim).
 *
 * Why: a watch per lock costs a watch-create request on every acquire (and a
 * cancel on every release), so an uncontended acquire+release was 4 requests
 * where the raw recipe needs 2 (bench/etcd). With the feed, subscribing is
 * local: an acquire granted at once costs its claim transaction and its
 * release one delete, nothing else. The price is that every process receives
 * the deletions of the whole namespace (keys only matter; values of deleted
 * keys are not sent).
 *
 * What it covers. The feed reports every DELETE from the revision it
 * (re)started at. A subscription from revision `from` is served by the feed
 * only when the feed covered `from` already; otherwise (a read older than the
 * feed, or than its last reconnection) it falls back to a watch of its own
 * (watch.ts), so nothing between a read and its watch is ever missed. After a
 * reconnection every subscriber is told its watch is uncertain (etcd3 may skip
 * events in flight then) and re-reads.
 *
 * Deletions already dispatched. The feed runs ahead of the answers to our own
 * requests: a claim's transaction may read a blocker at revision 46, and the
 * blocker's deletion at 47 reach the feed (and be dispatched to nobody) before
 * the transaction's answer, so before the waiter subscribes from 47. Two
 * processes each waiting for a deletion the other had already seen was a
 * deadlock (found by the three-member cluster test under load). So the feed
 * keeps the last deletions it dispatched (bounded: {@link RECENT_LIMIT} keys),
 * answers a new subscription from them, and sends a subscription older than
 * what it kept to a watch of its own.
 *
 * @internal
 * @module
 */
import type { Etcd3, IKeyValue, IWatchResponse, Watcher } from 'etcd3';
import type { DeleteWatch, DeleteWatchHandlers, Watches } from './watch.js';

/** How many recently deleted keys the feed remembers (a subscription older than them gets its own watch). */
export const RECENT_LIMIT = 4096;

interface Subscriber {
  readonly from: bigint;
  readonly handlers: DeleteWatchHandlers;
}

/**
 * The shared DELETE feed of one driver.
 *
 * @example
 * ```ts
 * const watch = feed.onDelete(claimKey, readRevision + 1n, { onDelete: wake, onUncertain: recheck });
 * watch.cancel();
 * ```
 */
export class DeleteFeed {
  readonly #etcd: Etcd3;
  readonly #prefix: Buffer;
  readonly #fallback: Watches;
  readonly #subscribers = new Map<string, Set<Subscriber>>();
  #watcher: Watcher | undefined;
  /** The first revision the feed is known to deliver (-1n: not acknowledged yet, or reconnecting). */
  #covers = -1n;
  /** The last deletion dispatched per key, oldest first; every DELETE from `#recentFrom` on is here (or a later one of its key). */
  readonly #recent = new Map<string, bigint>();
  #recentFrom = -1n;
  #closed = false;

  constructor(etcd: Etcd3, locksRoot: string, fallback: Watches) {
    this.#etcd = etcd;
    this.#prefix = Buffer.from(locksRoot);
    this.#fallback = fallback;
  }

  /**
   * Open the feed, from etcd's current revision on: a watch that starts past
   * etcd's revision is served by its fast path (one that starts at an older
   * revision waits for a catch-up loop that runs every 100 ms). Called when the
   * driver is created, so it is live before the first claim.
   */
  start(): void {
    if (this.#watcher === undefined && !this.#closed) this.#open();
  }

  /** Watch `key` for deletion from `from` on. */
  onDelete(key: Buffer, from: bigint, handlers: DeleteWatchHandlers): DeleteWatch {
    this.start();
    // the feed serves only what it is known to cover; an older read gets a watch of its own
    if (this.#covers < 0n || from < this.#covers || from < this.#recentFrom) return this.#fallback.onDelete(key, from, handlers);
    const id = key.toString('latin1');
    let subscriber: Subscriber = { from, handlers };
    let set = this.#subscribers.get(id);
    if (set === undefined) this.#subscribers.set(id, (set = new Set()));
    set.add(subscriber);
    const deleted = this.#recent.get(id);
    // dispatched before we subscribed: told now, after the caller has its handle (unless it cancelled)
    if (deleted !== undefined && deleted >= from) queueMicrotask(() => set!.has(subscriber) && subscriber.handlers.onDelete(deleted));
    return {
      cancel: () => {
        set!.delete(subscriber);
        if (set!.size === 0 && this.#subscribers.get(id) === set) this.#subscribers.delete(id);
      },
      retarget: (next) => {
        set!.delete(subscriber);
        subscriber = { from, handlers: next };
        set!.add(subscriber);
      },
    };
  }

  /** Stop the feed (the driver closes). */
  close(): void {
    this.#closed = true;
    this.#watcher?.cancel().catch(() => {});
    this.#watcher = undefined;
    this.#subscribers.clear();
    this.#forgetRecent();
  }

  #open(): void {
    const watcher = this.#etcd.watch().prefix(this.#prefix).only('delete').watcher();
    this.#watcher = watcher;
    let disconnected = false;
    watcher.on('delete', (kv: IKeyValue) => this.#deleted(kv));
    watcher.on('disconnected', () => {
      disconnected = true;
      this.#covers = -1n;
    });
    watcher.on('connected', (res: IWatchResponse) => {
      const at = BigInt(res.header.revision);
      if (this.#covers === -1n && !disconnected) {
        this.#covers = at + 1n; // first acknowledgement: every DELETE after `at` reaches us
        this.#forgetRecent();
        return;
      }
      if (!disconnected) return;
      disconnected = false;
      this.#covers = at + 1n;
      this.#forgetRecent();
      this.#uncertainAll(new Error('watch stream reconnected'));
    });
    watcher.on('error', (error: unknown) => {
      // etcd cancelled the feed (compaction, …): every subscriber re-reads; the next claim opens a new one
      if (this.#watcher === watcher) this.#watcher = undefined;
      this.#covers = -1n;
      this.#forgetRecent();
      this.#uncertainAll(error);
    });
  }

  #deleted(kv: IKeyValue): void {
    const id = kv.key.toString('latin1');
    const revision = BigInt(kv.mod_revision);
    this.#remember(id, revision);
    const set = this.#subscribers.get(id);
    if (set === undefined) return;
    for (const subscriber of [...set]) if (revision >= subscriber.from) subscriber.handlers.onDelete(revision);
  }

  #remember(id: string, revision: bigint): void {
    this.#recent.delete(id); // re-inserted last: the map stays in revision order
    this.#recent.set(id, revision);
    if (this.#recent.size <= RECENT_LIMIT) return;
    const [oldest, oldestRevision] = this.#recent.entries().next().value as [string, bigint];
    this.#recent.delete(oldest);
    this.#recentFrom = oldestRevision + 1n; // what was dropped no longer answers a subscription
  }

  /** The kept deletions start again from what the feed covers now (a reconnection may have skipped some). */
  #forgetRecent(): void {
    this.#recent.clear();
    this.#recentFrom = this.#covers;
  }

  #uncertainAll(cause: unknown): void {
    const all = [...this.#subscribers.values()].flatMap((set) => [...set]);
    this.#subscribers.clear();
    for (const subscriber of all) subscriber.handlers.onUncertain(cause);
  }
}
