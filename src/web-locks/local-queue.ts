/**
 * The specification's lock request queue for the requests of this process,
 * in front of a lock directory or a coordinator: the addon's process-wide
 * lock table (src/threads/lock-table.ts) under one realm per directory or
 * coordinator. It gives those scopes, within the process, exactly the
 * specification's order: FIFO per name, shared requests together, no barging
 * past a waiting exclusive one, `ifAvailable`, a steal that displaces the
 * holders and goes first, and aborted requests that leave at once. Only a
 * request this queue granted goes on to the kernel or the engine.
 *
 * @internal
 * @module
 */
import { grantOf } from '../threads/grant-wait.js';
import { How, lockTable, type LockTable } from '../threads/lock-table.js';
import type { LockMode } from './lock.js';
import type { ScopeRequest } from './scope.js';

const CAPACITY = 2 ** 52;

/** @internal */
export class LocalQueue {
  readonly #table: LockTable = lockTable();
  readonly #realm: string;

  /** @param realm - a table key prefix no other queue uses. */
  constructor(realm: string) {
    this.#realm = realm;
  }

  /**
   * This process's turn for `request`: resolves with the grant's id, or `null`
   * when `ifAvailable` and not grantable now; rejects with the signal's reason
   * if aborted while queued. A steal displaces every holder of the name first
   * (their {@link onStolen} handlers run).
   */
  async enter(request: ScopeRequest): Promise<number | null> {
    const how = request.steal ? How.Steal : request.ifAvailable ? How.IfAvailable : How.Wait;
    const id = this.#table.request(this.#realm + request.name, CAPACITY, request.mode === 'exclusive' ? CAPACITY : 1, how);
    if (id === 0) return null;
    if (id > 0) return id;
    await grantOf(this.#table, -id, request.signal, undefined, `lock "${request.name}"`);
    return -id;
  }

  /**
   * This process's turn, then `take()` (the kernel's or the engine's lock):
   * resolves with both, or `null` when either is not available now
   * (`ifAvailable`); this process's turn is given back if `take` fails.
   */
  async through<G>(request: ScopeRequest, take: () => Promise<G | undefined>): Promise<{ id: number; guard: G } | null> {
    const id = await this.enter(request);
    if (id === null) return null;
    let guard: G | undefined;
    try {
      guard = await take();
    } finally {
      if (guard === undefined) this.leave(id);
    }
    return guard === undefined ? null : { id, guard };
  }

  /** Give grant `id` back: the next requests of this process move on. */
  leave(id: number): void {
    this.#table.release(id);
  }

  /** Call `fn` if grant `id` is stolen. */
  onStolen(id: number, fn: () => void): void {
    this.#table.onStolen(id, fn);
  }

  /** The requests of this process waiting in this queue, in queue order. */
  pending(): { name: string; mode: LockMode }[] {
    return this.#table
      .query(this.#realm)
      .filter((r) => !r.held)
      .map((r) => ({ name: r.key.slice(this.#realm.length), mode: r.exclusive ? 'exclusive' : 'shared' }));
  }
}
