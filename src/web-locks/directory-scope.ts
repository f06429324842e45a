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
 * lock back. A kernel lock of another process cannot be taken from it (only
 * stopping that process frees it: `deadbolt break NAME`), so a steal of a lock
 * held by another process is refused with NotSupportedError.
 *
 * @internal
 * @module
 */
import { hostname, userInfo } from 'node:os';
import { openAudit, type BreakAuditRecord } from '../file/audit-log.js';
import { DirectoryHandle } from '../file/directory-handle.js';
import type { FileLockGuard } from '../file/file-guard.js';
import type { LockDirectory } from '../file/lock-directory.js';
import { lockFileName } from '../file/lock-name.js';
import { processIdentity } from '../internal/identity.js';
import type { BaseFencedGuard } from '../contracts/fenced-guard.js';
import { LocalQueue } from './local-queue.js';
import { createFencedLock } from './lock.js';
import { notSupported, report, stolenError, type GrantSink, type HeldLock, type LockInfo, type LockManagerSnapshot, type LockScope, type ScopeRequest } from './scope.js';

/** @internal */
export class DirectoryScope implements LockScope {
  readonly #dir: LockDirectory;
  readonly #allowSteal: boolean;
  readonly #queue: LocalQueue;

  constructor(dir: LockDirectory, allowSteal: boolean) {
    this.#dir = dir;
    this.#allowSteal = allowSteal;
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
    this.#queue.onStolen(id, () => {
      this.#audit(guard);
      (guard as unknown as BaseFencedGuard).markLost('broken', `lock "${guard.name}" was stolen (Web Locks steal)`);
      sink.displaced(stolenError(guard.name));
      void guard.release();
    });
    return {
      lock: createFencedLock(guard.name, guard.mode, guard.token, guard.signal),
      release: () => {
        this.#queue.leave(id);
        return guard.release();
      },
    };
  }

  /**
   * The kernel lock for a steal, once this process's holders were displaced
   * (they give their kernel locks back as they learn it: wait for them).
   * Refused if another process holds it.
   */
  async #afterSteal(name: string): Promise<FileLockGuard> {
    const now = await this.#dir.tryAcquire(name, { mode: 'exclusive' });
    if (now !== undefined) return now;
    const foreign = (await this.#dir.list()).find((f) => f.name === name)?.holders.find((h) => h.owner.pid !== process.pid);
    if (foreign !== undefined) {
      throw notSupported(
        `lock "${name}" is held by pid ${foreign.owner.pid}: a kernel lock cannot be taken from another process; ` +
          `an operator can stop that holder with \`deadbolt break ${JSON.stringify(name)}\``,
      );
    }
    return this.#dir.acquire(name, { mode: 'exclusive' });
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
    reason: 'Web Locks request with steal: true',
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
