/**
 * The Web Locks scope of the processes of one host that share a lock
 * directory. Two levels, each with the guarantee it can give:
 * - in this process (every thread of it), the specification's queue, exactly
 *   (local-queue.ts, keyed by the directory's path);
 * - across processes, the kernel: a request at the head of this process's
 *   queue takes the `LockDirectory` lock (an OFD lock the kernel releases when
 *   its holder dies), so the callback's lock carries that grant's fencing token
 *   and loss signal. Between processes the kernel decides who is next.
 *
 * Steal is an operator's break, allowed only with `allowSteal`. The holders in
 * this process are displaced: each appends a line to the directory's audit log
 * (as `deadbolt break` does), its lock's signal aborts with LockLostError
 * `broken`, its `request()` rejects with AbortError, and it gives the kernel
 * lock back. A kernel lock of another process cannot be taken from it, so
 * there the steal is cooperative (src/file/steal-request.ts): the stealer
 * writes a steal request naming the tokens it displaces; a holder whose
 * manager allows steal watches for it (steal-watch.ts), proves it (owner uid:
 * its own or root), is displaced as above and gives the lock back; the
 * stealer, bounded by `stealTimeout`, takes the lock and records the break in
 * the audit log. A holder that does not answer (hung, a manager without
 * `allowSteal`, not a Web Locks manager at all) keeps the lock: the stealer
 * fails with LockTimeoutError naming `deadbolt break`, which stops a process.
 *
 * @internal
 * @module
 */
import { hostname, userInfo } from 'node:os';
import { operator } from '../cli/engine-audit.js';
import { LockTimeoutError } from '../errors.js';
import { openAudit, type BreakAuditRecord } from '../file/audit-log.js';
import { DirectoryHandle } from '../file/directory-handle.js';
import type { FileLockGuard } from '../file/file-guard.js';
import type { LockDirectory } from '../file/lock-directory.js';
import { lockFileName } from '../file/lock-name.js';
import { removeStealRequest, uidOfProcess, writeStealRequest, type StealRequest } from '../file/steal-request.js';
import { processIdentity } from '../internal/identity.js';
import type { BaseFencedGuard, LockInfo as HolderInfo } from '../contracts/fenced-guard.js';
import { LocalQueue } from './local-queue.js';
import { createFencedLock } from './lock.js';
import { notSupported, report, stolenError, type GrantSink, type HeldLock, type LockInfo, type LockManagerSnapshot, type LockScope, type ScopeRequest } from './scope.js';
import { watchSteal } from './steal-watch.js';

const STEAL_REASON = 'Web Locks request with steal: true';

/** @internal */
export class DirectoryScope implements LockScope {
  readonly #dir: LockDirectory;
  readonly #allowSteal: boolean;
  readonly #stealTimeout: number;
  readonly #queue: LocalQueue;

  /** @param stealTimeout - how long a steal waits for holders to give the lock up (ms). */
  constructor(dir: LockDirectory, allowSteal: boolean, stealTimeout: number) {
    this.#dir = dir;
    this.#allowSteal = allowSteal;
    this.#stealTimeout = stealTimeout;
    this.#queue = new LocalQueue(`d:${dir.path}\u0000`);
  }

  acquire(request: ScopeRequest, sink: GrantSink): void {
    report(this.#acquire(request, sink), sink);
  }

  async #acquire(request: ScopeRequest, sink: GrantSink): Promise<HeldLock | null> {
    const { name, mode, signal } = request;
    if (request.steal && !this.#allowSteal) {
      throw notSupported(`steal on a lock directory is an operator's break: create the manager with LockManager.forDirectory(dir, { allowSteal: true })`);
    }
    const held = await this.#queue.through(request, (): Promise<FileLockGuard | undefined> => {
      if (request.steal) return this.#afterSteal(name);
      return request.ifAvailable ? this.#dir.tryAcquire(name, { mode }) : this.#dir.acquire(name, { mode, signal });
    });
    return held === null ? null : this.#held(held.id, held.guard, sink);
  }

  async query(): Promise<LockManagerSnapshot> {
    const held: LockInfo[] = [];
    for (const file of await this.#dir.list()) {
      if (file.state !== 'shared' && file.state !== 'exclusive') continue;
      for (const h of file.holders) held.push({ name: h.name, mode: h.mode, clientId: h.owner.id });
      // A holder that writes no record (oslo.concurrency) still holds the lock.
      if (file.holders.length === 0 && file.name !== undefined) held.push({ name: file.name, mode: file.state, clientId: '' });
    }
    const me = processIdentity().id;
    return { held, pending: this.#queue.pending().map((r) => ({ ...r, clientId: me })) };
  }

  #held(id: number, guard: FileLockGuard, sink: GrantSink): HeldLock {
    let given = false;
    let unwatch = (): void => {};
    const giveUp = (why: string, inProcess: boolean) => {
      if (given) return;
      given = true;
      unwatch();
      if (inProcess) this.#audit(guard);
      else this.#queue.leave(id);
      (guard as unknown as BaseFencedGuard).markLost('broken', `lock "${guard.name}" was stolen (${why})`);
      sink.displaced(stolenError(guard.name));
      void guard.release();
    };
    this.#queue.onStolen(id, () => giveUp('Web Locks steal', true));
    if (this.#allowSteal) {
      const file = lockFileName(guard.name, this.#dir.prefix);
      unwatch = watchSteal(this.#dir.path, file, guard.name, guard.token, (r) => giveUp(`Web Locks steal by ${r.by.user} (uid ${r.by.uid}), pid ${r.by.pid}`, false));
    }
    return {
      lock: createFencedLock(guard.name, guard.mode, guard.token, guard.signal),
      release: () => {
        if (given) return undefined;
        given = true;
        unwatch();
        this.#queue.leave(id);
        return guard.release();
      },
    };
  }

  /**
   * The kernel lock for a steal, once this process's holders were displaced
   * (they give their kernel locks back as they learn it). Holders in other
   * processes are asked to give it up with a steal request.
   */
  async #afterSteal(name: string): Promise<FileLockGuard> {
    const now = await this.#dir.tryAcquire(name, { mode: 'exclusive' });
    if (now !== undefined) return now;
    const holders = (await this.#dir.list()).find((f) => f.name === name)?.holders ?? [];
    const foreign = holders.filter((h) => h.owner.pid !== process.pid);
    if (foreign.length === 0) return this.#wait(name, undefined, 'its holder');
    return this.#stealFrom(name, foreign);
  }

  /** Ask `holders` (other processes) to give lock `name` up, wait, and record the break. */
  async #stealFrom(name: string, holders: HolderInfo[]): Promise<FileLockGuard> {
    const file = lockFileName(name, this.#dir.prefix);
    const by = operator();
    const request: StealRequest = {
      version: 1,
      lock: name,
      tokens: holders.map((h) => h.token.toString()),
      by: { user: by.user, uid: by.uid, host: by.host, pid: by.pid },
      reason: STEAL_REASON,
      at: new Date().toISOString(),
    };
    const handle = DirectoryHandle.open(this.#dir.path, { fileMode: 0o600, cleanup: false });
    try {
      writeStealRequest(handle, file, request, uidOfProcess(holders[0]!.owner.pid));
      const pids = holders.map((h) => h.owner.pid).join(', ');
      const guard = await this.#wait(name, () => this.#auditForeign(handle, file, holders, 'still-held'), `pid ${pids}`);
      this.#auditForeign(handle, file, holders, 'freed');
      return guard;
    } finally {
      removeStealRequest(handle, file, process.pid);
      handle.close();
    }
  }

  /** The kernel lock, within stealTimeout; else a LockTimeoutError that names `deadbolt break`. */
  async #wait(name: string, onTimeout: (() => void) | undefined, holder: string): Promise<FileLockGuard> {
    try {
      return await this.#dir.acquire(name, { mode: 'exclusive', timeout: this.#stealTimeout });
    } catch (err) {
      if (!(err instanceof LockTimeoutError)) throw err;
      onTimeout?.();
      throw new LockTimeoutError(
        `steal of lock "${name}": ${holder} did not give it up within ${this.#stealTimeout} ms (a holder gives a lock up ` +
          `only from a live, responsive Web Locks manager created with allowSteal: true; one that is hung, or that uses ` +
          `the lock directory otherwise, keeps it). An operator can stop the holder with \`deadbolt break ${JSON.stringify(name)}\``,
        this.#stealTimeout,
        { cause: err },
      );
    }
  }

  /** One audit line per displaced holder of another process, as `deadbolt break` writes them. */
  #auditForeign(handle: DirectoryHandle, file: string, holders: HolderInfo[], outcome: BreakAuditRecord['outcome']): void {
    for (const h of holders) {
      openAudit(handle).append({
        version: 1,
        event: 'break',
        at: new Date().toISOString(),
        lock: { name: h.name, file },
        by: operator(),
        reason: STEAL_REASON,
        displaced: { pid: h.owner.pid, host: h.owner.host, command: h.owner.command ?? '', id: h.owner.id, mode: h.mode, token: h.token.toString(), since: h.since.toISOString() },
        via: 'web-locks',
        signals: [],
        outcome,
      });
    }
  }

  /** The displaced holder's audit line, as `deadbolt break` writes one (no signal: it was displaced in its process). */
  #audit(guard: FileLockGuard): void {
    const handle = DirectoryHandle.open(this.#dir.path, { fileMode: 0o600, cleanup: false });
    try {
      openAudit(handle).append(auditRecord(lockFileName(guard.name, this.#dir.prefix), guard));
    } finally {
      handle.close();
    }
  }
}

function auditRecord(file: string, guard: FileLockGuard): BreakAuditRecord {
  const me = processIdentity();
  const user = userInfo();
  const heldMs = performance.now() - (guard as unknown as BaseFencedGuard).grantedAt;
  return {
    version: 1,
    event: 'break',
    at: new Date().toISOString(),
    lock: { name: guard.name, file },
    by: { user: user.username, uid: user.uid, host: hostname(), pid: process.pid },
    reason: STEAL_REASON,
    displaced: {
      pid: process.pid,
      host: me.host,
      command: me.command ?? '',
      id: me.id,
      mode: guard.mode,
      token: guard.token.toString(),
      since: new Date(Date.now() - heldMs).toISOString(),
    },
    via: 'web-locks',
    signals: [],
    outcome: 'freed',
  };
}
