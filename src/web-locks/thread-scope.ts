/**
 * The Web Locks scope of one process's worker threads, over the addon's
 * process-wide lock table (src/threads/lock-table.ts). A name is one table key
 * of capacity 2^52: shared requests take 1, exclusive ones all of it, so the
 * table's FIFO "head fits" rule is the specification's "grantable". Steal
 * displaces every holder (each learns it through its own thread's event).
 *
 * @internal
 * @module
 */
import { waitForGrant } from '../threads/grant-wait.js';
import { How, lockTable, type LockTable } from '../threads/lock-table.js';
import { createLock } from './lock.js';
import { stolenError, type GrantSink, type HeldLock, type LockInfo, type LockManagerSnapshot, type LockScope, type ScopeRequest } from './scope.js';

const CAPACITY = 2 ** 52;
const REALM = 'w:';

class ThreadScope implements LockScope {
  readonly #table: LockTable = lockTable();

  acquire(request: ScopeRequest, sink: GrantSink): void {
    const { name, mode } = request;
    const how = request.steal ? How.Steal : request.ifAvailable ? How.IfAvailable : How.Wait;
    const id = this.#table.request(REALM + name, CAPACITY, mode === 'exclusive' ? CAPACITY : 1, how);
    if (id === 0) sink.granted(null);
    else if (id > 0) sink.granted(this.#held(id, request, sink));
    else {
      const granted = () => sink.granted(this.#held(-id, request, sink));
      waitForGrant(this.#table, -id, request.signal, undefined, `lock "${name}"`, granted, (reason) => sink.failed(reason));
    }
  }

  query(): Promise<LockManagerSnapshot> {
    const snapshot: LockManagerSnapshot = { held: [], pending: [] };
    for (const r of this.#table.query(REALM)) {
      const info: LockInfo = { name: r.key.slice(REALM.length), mode: r.exclusive ? 'exclusive' : 'shared', clientId: `node-${process.pid}-${r.clientId}` };
      (r.held ? snapshot.held : snapshot.pending).push(info);
    }
    return Promise.resolve(snapshot);
  }

  #held(id: number, request: ScopeRequest, sink: GrantSink): HeldLock {
    const table = this.#table;
    table.onStolen(id, () => sink.displaced(stolenError(request.name)));
    return { lock: createLock(request.name, request.mode), release: () => table.release(id) };
  }
}

let scope: ThreadScope | undefined;

/** This thread's scope. @internal */
export function threadScope(): LockScope {
  return (scope ??= new ThreadScope());
}
