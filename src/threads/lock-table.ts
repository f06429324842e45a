/**
 * This thread's view of the process-wide lock table in the addon
 * (native/thread_locks.h): every worker thread of the process shares one table,
 * because the addon's static state exists once per process while each thread
 * has its own isolate.
 *
 * Ordering: strict FIFO per key; a request is granted when its weight fits in
 * the key's capacity and nobody is queued ahead (exclusive = the whole capacity).
 * "Held" means the table lists the request as held; a grant is reported to the
 * waiting thread through the addon's thread-safe function (a uv_async wake-up,
 * no polling) or, for the thread that caused it, synchronously. A thread that
 * exits or is terminated leaves the table: what it held is released.
 *
 * Keys carry a one-letter realm (`w:` Web Locks, `m:` mutexes, …) so that the
 * primitives never see each other's names.
 *
 * @internal
 * @module
 */
import { threadId } from 'node:worker_threads';
import { addon, type Addon } from '../file/addon.js';

/** How a request is made: wait in the queue, only if free now, or displacing every holder. */
export const How = {
  Wait: 0,
  IfAvailable: 1,
  Steal: 2,
} as const;
/** One of {@link How}. */
export type How = (typeof How)[keyof typeof How];

/**
 * What {@link LockTable.wait} calls on a grant and {@link LockTable.onStolen} on a
 * steal: a function, or an object that is told which (the Web Locks queue passes
 * its one object per request, so that 10 000 queued requests cost no closures).
 *
 * @internal
 */
export interface TableListener {
  /** Request `id` was granted (`stolen` false) or, while held, stolen (`stolen` true). */
  onTableEvent(id: number, stolen: boolean): void;
}
type Listener = (() => void) | TableListener;

function notify(listener: Listener | undefined, id: number, stolen: boolean): void {
  if (listener === undefined) return;
  if (typeof listener === 'function') listener();
  else listener.onTableEvent(id, stolen);
}

/**
 * The table as this thread uses it: requests, waits, releases and snapshots.
 *
 * @internal
 * @example
 * ```ts
 * const table = lockTable();
 * const id = table.request('m:jobs', 1, 1, How.Wait);
 * if (id < 0) table.wait(-id, () => console.log('granted'));
 * table.release(Math.abs(id));
 * ```
 */
export class LockTable {
  readonly #native: Addon;
  readonly #waiting = new Map<number, Listener>();
  readonly #stolen = new Map<number, Listener>();
  constructor(native: Addon) {
    this.#native = native;
    // Snapshots name a thread by its threadId, unique in the process (as Node's own navigator.locks does).
    native.tlClientId(threadId);
    native.tlListen(() => this.#drain());
  }

  /** `id > 0` granted now, `-id` queued (then {@link wait}), `0` refused (`IfAvailable` only). */
  request(key: string, capacity: number, weight: number, how: How): number {
    const id = this.#native.tlRequest(key, capacity, weight, how);
    if (how === How.Steal) this.#drain();
    return id;
  }

  /** Call `onGrant` when queued request `id` is granted. Call once, right after {@link request}. */
  wait(id: number, onGrant: Listener): void {
    if (this.#waiting.size === 0) this.#native.tlKeepAlive(true);
    this.#waiting.set(id, onGrant);
  }

  /** Call `fn` if held request `id` is stolen (Web Locks' steal); only one handler per id. */
  onStolen(id: number, fn: Listener): void {
    this.#stolen.set(id, fn);
  }

  /** Give held request `id` back; waiters (here or on other threads) are granted. */
  release(id: number): void {
    this.#stolen.delete(id);
    const events = this.#native.tlRelease(id);
    // One event (a release handing the lock on to a request of this thread) comes as a number.
    if (typeof events === 'number') {
      if (events !== 0) this.#event(events);
    } else {
      this.#dispatch(events);
    }
  }

  /**
   * Withdraw queued request `id`. `false` when it was granted meanwhile: its
   * grant is (or will be) delivered to {@link wait}, and it must be released.
   */
  cancel(id: number): boolean {
    const ready = this.#native.tlCancel(id);
    if (ready < 0) return false;
    this.#forget(id);
    if (ready > 0) this.#drain();
    return true;
  }

  /** Every request whose key starts with `prefix`, held ones first per key, in grant and queue order. */
  query(prefix: string): { key: string; exclusive: boolean; clientId: number; held: boolean }[] {
    return this.#native.tlQuery(prefix).map(([key, exclusive, clientId, held]) => ({ key, exclusive, clientId, held }));
  }

  #drain(): void {
    this.#dispatch(this.#native.tlDrain());
  }

  #dispatch(events: number[]): void {
    for (const event of events) this.#event(event);
  }

  /** `+id` granted, `-id` stolen. */
  #event(event: number): void {
    if (event > 0) {
      const onGrant = this.#waiting.get(event);
      this.#forget(event);
      notify(onGrant, event, false);
    } else {
      const stolen = this.#stolen.get(-event);
      this.#stolen.delete(-event);
      notify(stolen, -event, true);
    }
  }

  #forget(id: number): void {
    if (this.#waiting.delete(id) && this.#waiting.size === 0) this.#native.tlKeepAlive(false);
  }
}

let table: LockTable | undefined;

/**
 * This thread's lock table (created on first use; loads the addon).
 *
 * @internal
 * @example
 * ```ts
 * lockTable().query('w:');
 * ```
 */
export function lockTable(): LockTable {
  return (table ??= new LockTable(addon()));
}
