/**
 * The `file://` driver: a Coordinator over a LockDirectory, so code written
 * against `Coordinator` runs on one machine with no server, and moves to a
 * cluster by changing the URL.
 *
 * What "held" means: the LockDirectory's kernel OFD lock (see src/file/grant.ts).
 * Liveness is the holder process itself: the kernel releases its locks the
 * moment it dies, so there is no lease to keep alive and nothing to expire. A
 * paused (SIGSTOP) holder keeps its locks until it resumes or is killed; that
 * is stated in the capabilities (`serverLease: false`).
 * Loss: a lock file deleted or replaced behind the holder's back is reported on
 * release (the guard's signal aborts with reason `deleted`).
 * Breaking: a kernel lock can only be broken by stopping its holder, which is
 * an operator's decision (`deadbolt break NAME`), not a library call.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { UnsupportedError, type LossReason } from '../../errors.js';
import type { Capabilities, Driver, DriverLock, DriverSession, LockRequest } from '../../distributed/driver.js';
import type { LockInfo } from '../../contracts/fenced-guard.js';
import type { FileLockGuard } from '../../file/file-guard.js';
import type { LockDirectory, OwnedAcquireOptions } from '../../file/lock-directory.js';
import { onAbort } from '../../internal/on-abort.js';

/**
 * What the file driver can guarantee.
 *
 * @example
 * ```ts
 * fileCapabilities.serverLease; // false: a paused holder keeps its locks
 * ```
 */
export const fileCapabilities: Readonly<Capabilities> = Object.freeze({
  shared: true,
  durableTokens: true,
  serverLease: false,
  waitNotifications: true,
  breakable: false,
  recipes: false,
  minTtlMs: 1,
  recoveryBoundMs: 0,
  notes: [
    'liveness is the holder process: the kernel frees its locks the moment it dies; a paused (SIGSTOP) holder keeps them',
    'tokens come from the directory\'s .deadbolt-tokens counter: they survive restarts of every process, not the loss of the disk',
    'break a lock by stopping its holder: `deadbolt break NAME` (the TTL and session have no effect on file locks)',
  ],
});

/** A session with no lease: the process is the lease. */
class ProcessSession implements DriverSession {
  readonly id = randomUUID();
  readonly leaseless = true;
  constructor(readonly ttlMs: number) {}
  keepAlive(): Promise<void> {
    return Promise.resolve();
  }
  revoke(): Promise<void> {
    return Promise.resolve();
  }
}

/** A granted lock: the LockDirectory guard, seen through the driver contract. */
class FileDriverLock implements DriverLock {
  readonly token: bigint;
  readonly since = new Date();

  constructor(private readonly guard: FileLockGuard) {
    this.token = guard.token;
  }

  /** The lock file's own loss (its file replaced or deleted behind our back), as the recipe core's locks report it. */
  onLoss(listener: (reason: LossReason, detail: string) => void): void {
    const signal = this.guard.signal;
    onAbort(signal, () => listener('deleted', (signal.reason as Error).message));
  }

  release(): Promise<void> {
    return this.guard.release();
  }
}

/** @internal */
export class FileDriver implements Driver {
  readonly backend = 'file';
  readonly capabilities = fileCapabilities;

  constructor(readonly directory: LockDirectory) {}

  openSession(ttlMs: number): Promise<DriverSession> {
    return Promise.resolve(new ProcessSession(ttlMs));
  }

  async acquire(request: LockRequest, signal: AbortSignal): Promise<DriverLock> {
    const options: OwnedAcquireOptions = { mode: request.mode, signal, owner: request.owner };
    return new FileDriverLock(await this.directory.acquire(request.name, options));
  }

  async tryAcquire(request: LockRequest): Promise<DriverLock | undefined> {
    const guard = await this.directory.tryAcquire(request.name, { mode: request.mode, owner: request.owner } as OwnedAcquireOptions);
    return guard === undefined ? undefined : new FileDriverLock(guard);
  }

  async list(prefix: string): Promise<LockInfo[]> {
    const files = await this.directory.list();
    return files.flatMap((f) => f.holders.filter((holder) => holder.name.startsWith(prefix)));
  }

  async holders(name: string): Promise<LockInfo[]> {
    return (await this.list(name)).filter((info) => info.name === name);
  }

  break(name: string): Promise<LockInfo[]> {
    return Promise.reject(
      new UnsupportedError(
        `a file lock ("${name}") can only be broken by stopping the process that holds it; ` +
          `run \`deadbolt break ${JSON.stringify(name)} --lock-path ${this.directory.path}\`, which shows the holder and asks for confirmation`,
      ),
    );
  }

  close(): Promise<void> {
    this.directory.close();
    return Promise.resolve();
  }
}
