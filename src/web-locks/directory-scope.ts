/**
 * The Web Locks scope of the processes of one host that share a lock
 * directory: each request is a `LockDirectory` acquire (kernel OFD locks; the
 * kernel releases a dead holder's locks), `ifAvailable` is `tryAcquire`, and
 * the callback's lock carries the grant's fencing token and loss signal.
 *
 * Steal is an operator's break, allowed only with `allowSteal`: the holders
 * in this process (through any manager on the same directory) are displaced
 * (their lock's signal aborts with LockLostError `broken`, their `request()`
 * rejects with AbortError, the kernel lock is released), each displacement is
 * appended to the directory's audit log as `deadbolt break` does, and the
 * stealer then acquires. A kernel lock of another process cannot be taken
 * from it (only stopping that process frees it: `deadbolt break NAME`), so a
 * steal of a lock held by another process is refused with NotSupportedError.
 *
 * @internal
 * @module
 */
import { hostname, userInfo } from 'node:os';
import type { BaseFencedGuard } from '../local/fenced-guard.js';
import { DirectoryHandle } from '../file/directory-handle.js';
import { openAudit, type BreakAuditRecord } from '../file/audit-log.js';
import type { FileLockGuard } from '../file/file-guard.js';
import type { LockDirectory } from '../file/lock-directory.js';
import { lockFileName } from '../file/lock-name.js';
import { processIdentity } from '../internal/identity.js';
import { createFencedLock } from './lock.js';
import { notSupported, stolenError, type HeldLock, type LockInfo, type LockManagerSnapshot, type LockScope, type ScopeRequest } from './scope.js';

/** A grant held through some manager of this process, so that a steal can displace it. */
interface LocalHolder {
  readonly guard: FileLockGuard;
  readonly displaced: (reason: unknown) => void;
}

/** Holders and waiters of this process, per directory path and lock name (`path\0name`). */
const holders = new Map<string, Set<LocalHolder>>();
const pendings = new Map<string, Map<object, ScopeRequest>>();

/** @internal */
export class DirectoryScope implements LockScope {
  readonly #dir: LockDirectory;
  readonly #allowSteal: boolean;

  constructor(dir: LockDirectory, allowSteal: boolean) {
    this.#dir = dir;
    this.#allowSteal = allowSteal;
  }

  async acquire(request: ScopeRequest, displaced: (reason: unknown) => void): Promise<HeldLock | null> {
    const { name, mode } = request;
    if (request.steal) return this.#held(await this.#steal(name), displaced);
    if (request.ifAvailable) {
      const guard = await this.#dir.tryAcquire(name, { mode });
      return guard === undefined ? null : this.#held(guard, displaced);
    }
    const token = {};
    const waiting = pendingsOf(this.#dir.path);
    waiting.set(token, request);
    try {
      return this.#held(await this.#dir.acquire(name, { mode, signal: request.signal }), displaced);
    } finally {
      waiting.delete(token);
    }
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
    const pending = [...pendingsOf(this.#dir.path).values()].map((r) => ({ name: r.name, mode: r.mode, clientId: me }));
    return { held, pending };
  }

  #held(guard: FileLockGuard, displaced: (reason: unknown) => void): HeldLock {
    const key = keyOf(this.#dir.path, guard.name);
    const holder: LocalHolder = { guard, displaced };
    let set = holders.get(key);
    if (set === undefined) holders.set(key, (set = new Set()));
    set.add(holder);
    return {
      lock: createFencedLock(guard.name, guard.mode, guard.token, guard.signal),
      release: () => {
        forget(key, holder);
        return guard.release();
      },
    };
  }

  async #steal(name: string): Promise<FileLockGuard> {
    if (!this.#allowSteal) {
      throw notSupported(
        `steal on a lock directory is an operator's break: create the manager with LockManager.forDirectory(dir, { allowSteal: true })`,
      );
    }
    const key = keyOf(this.#dir.path, name);
    const mine = [...(holders.get(key) ?? [])];
    if (mine.length > 0) this.#audit(name, mine);
    for (const holder of mine) {
      forget(key, holder);
      (holder.guard as unknown as BaseFencedGuard).markLost('broken', `lock "${name}" was stolen (Web Locks steal)`);
      holder.displaced(stolenError(name));
      await holder.guard.release();
    }
    const guard = await this.#dir.tryAcquire(name, { mode: 'exclusive' });
    if (guard !== undefined) return guard;
    const foreign = (await this.#dir.list()).find((f) => f.name === name)?.holders.find((h) => h.owner.pid !== process.pid);
    if (foreign !== undefined) {
      throw notSupported(
        `lock "${name}" is held by pid ${foreign.owner.pid}: a kernel lock cannot be taken from another process; ` +
          `an operator can stop that holder with \`deadbolt break ${JSON.stringify(name)}\``,
      );
    }
    // Requests of this process queued before the steal were granted first; wait behind them.
    return this.#dir.acquire(name, { mode: 'exclusive' });
  }

  /** One audit line per displaced holder, written before anyone is displaced (as `deadbolt break`). */
  #audit(name: string, displaced: LocalHolder[]): void {
    const handle = DirectoryHandle.open(this.#dir.path, { fileMode: 0o600, cleanup: false });
    try {
      for (const { guard } of displaced) openAudit(handle).append(auditRecord(name, lockFileName(name, this.#dir.prefix), guard));
    } finally {
      handle.close();
    }
  }
}

function auditRecord(name: string, file: string, guard: FileLockGuard): BreakAuditRecord {
  const me = processIdentity();
  const user = userInfo();
  return {
    version: 1,
    event: 'break',
    at: new Date().toISOString(),
    lock: { name, file },
    by: { user: user.username, uid: user.uid, host: hostname(), pid: process.pid },
    reason: 'Web Locks request with steal: true',
    displaced: { pid: process.pid, host: me.host, command: me.command ?? '', id: me.id, mode: guard.mode, token: guard.token.toString(), since: sinceOf(guard) },
    via: 'web-locks',
    signals: [],
    outcome: 'freed',
  };
}

/** When `guard` was granted, as a date (guards keep a monotonic `grantedAt`). */
function sinceOf(guard: FileLockGuard): string {
  const heldMs = performance.now() - (guard as unknown as BaseFencedGuard).grantedAt;
  return new Date(Date.now() - heldMs).toISOString();
}

function keyOf(path: string, name: string): string {
  return `${path}\u0000${name}`;
}

function pendingsOf(path: string): Map<object, ScopeRequest> {
  let map = pendings.get(path);
  if (map === undefined) pendings.set(path, (map = new Map()));
  return map;
}

function forget(key: string, holder: LocalHolder): void {
  const set = holders.get(key);
  set?.delete(holder);
  if (set?.size === 0) holders.delete(key);
}
