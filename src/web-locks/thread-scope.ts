/**
 * The Web Locks scope of one process's worker threads, over the addon's
 * process-wide lock table (src/threads/lock-table.ts). A name is one table key
 * of capacity 2^52: shared requests take 1, exclusive ones all of it, so the
 * table's FIFO "head fits" rule is the specification's "grantable". Steal
 * displaces every holder (each learns it through its own thread's event).
 *
 * Every request keeps its own place in the table (one table request per Web
 * Locks request), so that the order across threads is the specification's.
 * What a queued request costs on this side is one {@link ThreadRequest}: 10 000
 * queued requests must not mean 10 000 sets of closures for the garbage
 * collector to copy (issue 17's queued benchmark).
 *
 * @internal
 * @module
 */
import { waitForGrant } from '../threads/grant-wait.js';
import { How, lockTable, type LockTable, type TableListener } from '../threads/lock-table.js';
import { createLock, type Lock } from './lock.js';
import { stolenError, type GrantSink, type HeldLock, type LockInfo, type LockManagerSnapshot, type LockScope, type ScopeRequest } from './scope.js';

const CAPACITY = 2 ** 52;
const REALM = 'w:';

/**
 * One request of this thread, from its table request to its release: the
 * table's listener for its grant (and, once held, for a steal) and the
 * granted {@link HeldLock}. One object with methods, not closures.
 */
class ThreadRequest implements TableListener, HeldLock {
  readonly #table: LockTable;
  readonly #request: ScopeRequest;
  readonly #sink: GrantSink;
  #id = 0;
  #lock: Lock | undefined;

  constructor(table: LockTable, request: ScopeRequest, sink: GrantSink) {
    this.#table = table;
    this.#request = request;
    this.#sink = sink;
  }

  /** Created at the grant: a queued request needs none. */
  get lock(): Lock {
    return (this.#lock ??= createLock(this.#request.name, this.#request.mode));
  }

  /** Table request `id` is held by this thread now. */
  grant(id: number): void {
    this.#id = id;
    this.#table.onStolen(id, this);
    this.#sink.granted(this);
  }

  onTableEvent(id: number, stolen: boolean): void {
    if (stolen) this.#sink.displaced(stolenError(this.#request.name));
    else this.grant(id);
  }

  release(): void {
    this.#table.release(this.#id);
  }
}

class ThreadScope implements LockScope {
  readonly #table: LockTable = lockTable();
  // The last name's table key: requests for one name in a row (a queue) build no string each.
  #lastName = '';
  #lastKey = REALM;

  acquire(request: ScopeRequest, sink: GrantSink): void {
    const { name, mode, signal } = request;
    const how = request.steal ? How.Steal : request.ifAvailable ? How.IfAvailable : How.Wait;
    const id = this.#table.request(this.#key(name), CAPACITY, mode === 'exclusive' ? CAPACITY : 1, how);
    if (id === 0) {
      sink.granted(null);
      return;
    }
    const r = new ThreadRequest(this.#table, request, sink);
    if (id > 0) r.grant(id);
    else if (signal === undefined) this.#table.wait(-id, r);
    else waitForGrant(this.#table, -id, signal, undefined, `lock "${name}"`, () => r.grant(-id), (reason) => sink.failed(reason));
  }

  query(): Promise<LockManagerSnapshot> {
    const snapshot: LockManagerSnapshot = { held: [], pending: [] };
    for (const r of this.#table.query(REALM)) {
      const info: LockInfo = { name: r.key.slice(REALM.length), mode: r.exclusive ? 'exclusive' : 'shared', clientId: `node-${process.pid}-${r.clientId}` };
      (r.held ? snapshot.held : snapshot.pending).push(info);
    }
    return Promise.resolve(snapshot);
  }

  #key(name: string): string {
    if (name !== this.#lastName) {
      this.#lastName = name;
      this.#lastKey = REALM + name;
    }
    return this.#lastKey;
  }
}

let scope: ThreadScope | undefined;

/** This thread's scope. @internal */
export function threadScope(): LockScope {
  return (scope ??= new ThreadScope());
}
