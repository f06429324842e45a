/**
 * The guard of a lock-directory lock.
 *
 * Release order matters: first the kernel lock (unlink while holding, then
 * close), then the in-process queue, so a same-process waiter never sees the
 * name free in-process while this process still holds it in the kernel.
 *
 * @module
 */
import { channels, publish } from '../diagnostics.js';
import type { Guard } from '../local/guard.js';
import { BaseFencedGuard, type FencedGuard } from '../contracts/fenced-guard.js';
import type { ReleaseFinding } from './grant.js';

/**
 * A held lock-directory lock: a FencedGuard with the lock file's path.
 *
 * @example
 * ```ts
 * await using guard = await locks.acquire('reindex');
 * console.log(guard.path, guard.token);
 * ```
 */
export interface FileLockGuard extends FencedGuard {
  /** The lock file's path. */
  readonly path: string;
}

/** How a guard gives its kernel lock back (exclusive fd, or a share). @internal */
export type KernelRelease = () => ReleaseFinding;

/** @internal */
export class FileGuard extends BaseFencedGuard implements FileLockGuard {
  readonly path: string;
  readonly #releaseKernel: KernelRelease;
  readonly #local: Guard;

  constructor(
    init: { name: string; mode: 'exclusive' | 'shared'; token: bigint; path: string; waitedMs: number; quiet: boolean },
    releaseKernel: KernelRelease,
    local: Guard,
  ) {
    super(init.name, init.mode, init.token, 'file', init.waitedMs, init.quiet);
    this.path = init.path;
    this.#releaseKernel = releaseKernel;
    this.#local = local;
  }

  protected async releaseLock(): Promise<void> {
    let finding: ReleaseFinding;
    try {
      finding = this.#releaseKernel();
    } finally {
      await this.#local.release();
    }
    if (finding !== 'same') this.#reportViolation(finding);
  }

  /** Someone deleted or replaced our lock file while we held it: another process may have held "the same" lock. */
  #reportViolation(found: Exclude<ReleaseFinding, 'same'>): void {
    publish(channels.fileProtocolViolation, { name: this.name, path: this.path, found }); // an operator must see this even when quiet
    this.markLost(
      'deleted',
      `lock file ${this.path} was ${found === 'replaced' ? 'replaced' : 'deleted'} by someone else while "${this.name}" was held, ` +
        'so another process may have held the same lock at the same time; only deadbolt itself (or `deadbolt clean`) may remove lock files in use',
    );
  }
}
