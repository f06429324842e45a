/**
 * Fence: the resource side of fencing tokens.
 *
 * A lock alone cannot stop a holder that was paused (GC, SIGSTOP, a partition)
 * from writing after its lease ran out and someone else was granted the lock.
 * The resource can: it remembers the highest token it has admitted per name
 * and rejects any write carrying a lower one. The rule is `token >= highest`
 * (equal is admitted: the same holder writing twice), and it must be checked
 * and recorded atomically with the write itself; docs/fencing.md gives the
 * same rule as one SQL statement and as one etcd transaction.
 *
 * This class keeps the highest tokens in memory, for a resource that lives in
 * this process (a cache, an in-memory store, a test double of a real one).
 *
 * @module
 */
import { FencedOutError, invalidType } from '../errors.js';

/**
 * Admits writes whose fencing token is at least the highest admitted for the
 * same name; rejects older ones with FencedOutError.
 *
 * @example
 * ```ts
 * import { Fence, connect } from 'deadbolt';
 * const fence = new Fence();
 * const store = new Map<string, string>();
 *
 * function write(key: string, value: string, token: bigint): void {
 *   fence.check(key, token); // throws FencedOutError for a stale holder
 *   store.set(key, value);   // no await between check and write: the pair is atomic
 * }
 *
 * await coordinator.run('config', (guard) => write('config', 'v2', guard.token));
 * ```
 */
export class Fence {
  readonly #highest = new Map<string, bigint>();

  /**
   * Admit `token` for `name`, or throw FencedOutError if a higher one was
   * already admitted. An equal token is admitted (the same holder writing again).
   *
   * @example
   * ```ts
   * fence.check('jobs', 7n);
   * fence.check('jobs', 7n); // fine: same holder
   * fence.check('jobs', 6n); // throws FencedOutError (highest: 7n)
   * ```
   */
  check(name: string, token: bigint): void {
    if (typeof name !== 'string') throw invalidType('name', 'a string', name);
    if (typeof token !== 'bigint') throw invalidType('token', 'a bigint (guard.token)', token);
    const highest = this.#highest.get(name);
    if (highest !== undefined && token < highest) throw new FencedOutError(name, token, highest);
    this.#highest.set(name, token);
  }

  /**
   * The highest token admitted for `name`, or `undefined` if none was.
   *
   * @example
   * ```ts
   * fence.highest('jobs'); // 7n
   * ```
   */
  highest(name: string): bigint | undefined {
    if (typeof name !== 'string') throw invalidType('name', 'a string', name);
    return this.#highest.get(name);
  }
}
