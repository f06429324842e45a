/**
 * Claims we failed to withdraw (etcd unreachable while releasing, or while
 * cleaning up after an abort) keep being deleted in the background: while the
 * session's lease is kept alive such a claim would block the name for ever.
 *
 * Each deletion is conditional on the lease that owns the key (our session's),
 * and claim keys are never reused, so a late deletion can never remove someone
 * else's claim. Attempts back off from 100 ms to 2 s and stop when the claim is
 * gone, when its lease is gone (etcd deleted it with the lease), or when the
 * driver closes. Timers never keep the process alive.
 *
 * @internal
 * @module
 */
import type { EtcdClient } from './client.js';

/**
 * Background deleter of orphaned claims.
 *
 * @example
 * ```ts
 * reaper.withdraw(claimKey, session.lease); // fire and forget
 * ```
 */
export class Reaper {
  readonly #client: EtcdClient;
  readonly #pending = new Map<string, NodeJS.Timeout>();
  #closed = false;

  constructor(client: EtcdClient) {
    this.#client = client;
  }

  /** How many claims are still waiting to be deleted. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Delete `key` if it is still attached to `lease`; retried until done. */
  withdraw(key: Buffer, lease: bigint, delay = 100): void {
    const id = key.toString('latin1');
    if (this.#closed || this.#pending.has(id)) return;
    const timer = setTimeout(() => {
      this.#pending.delete(id);
      this.#attempt(key, lease).then(
        () => {},
        () => this.withdraw(key, lease, Math.min(delay * 2, 2_000)),
      );
    }, delay);
    timer.unref();
    this.#pending.set(id, timer);
  }

  /** Stop retrying (the session's lease revocation removes what is left). */
  close(): void {
    this.#closed = true;
    for (const timer of this.#pending.values()) clearTimeout(timer);
    this.#pending.clear();
  }

  async #attempt(key: Buffer, lease: bigint): Promise<void> {
    if (this.#closed) return;
    await this.#client.etcd.kv.txn({
      // only while it is still ours; a missing key compares unequal and is left alone
      compare: [{ key, target: 'Lease', result: 'Equal', lease: lease.toString() }],
      success: [{ request_delete_range: { key } }],
      failure: [],
    });
  }
}
