/**
 * What a listing says about a holder of a named lock (lock directories and
 * every engine): the contract `list()`, `holders()` and the CLI share.
 * Informative only: never used to decide who holds a lock.
 *
 * @module
 */

/**
 * Who holds a lock, as its holder describes itself. Informative only: never
 * used to decide who holds a lock.
 *
 * @example
 * ```ts
 * const owner: LockOwner = { id: 'a1b2…', host: 'web-3', pid: 4242, command: 'node worker.js' };
 * ```
 */
export interface LockOwner {
  /** A unique id of the holding process or session. */
  id: string;
  /** The host name of the holder. */
  host: string;
  /** The holder's process id on that host. */
  pid: number;
  /** The holder's command line, when known. */
  command?: string;
}

/**
 * One holder of a named lock, as `list()` and `holders()` report it.
 *
 * @example
 * ```ts
 * for (const info of await locks.list()) console.log(info.name, info.mode, info.owner.pid, info.since);
 * ```
 */
export interface LockInfo {
  name: string;
  mode: 'exclusive' | 'shared';
  token: bigint;
  owner: LockOwner;
  since: Date;
  /** When the holder's lease runs out unless renewed (distributed locks). */
  expiresAt?: Date;
  /**
   * The TTL the holder's lease was granted with, in ms, when the engine tells
   * (etcd, PostgreSQL, ZooKeeper, memory; not Redis). A holder renews every
   * third of it, so a lease with less than two thirds left has missed a renewal.
   */
  ttlMs?: number;
  /** `'file'`, `'memory'`, `'etcd'`, … */
  backend: string;
  /**
   * The recipe data the holder stored with its claim: a leader's proclaimed
   * value, a member's metadata. Absent for plain locks. Written by whoever holds
   * the claim: show it escaped, never act on it.
   */
  data?: string;
}
