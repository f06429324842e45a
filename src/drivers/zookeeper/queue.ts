/**
 * The queue of one lock name, as read from ZooKeeper: the claim nodes under
 * its lock node, ordered by their sequence suffix (the order in which the
 * leader accepted them).
 *
 * Who holds, who blocks whom (ZooKeeper's lock and shared-lock recipes):
 * - a write claim is granted when no claim is older than it;
 * - a read claim is granted when no *write* claim is older than it;
 * so the holders are the oldest claim if it is a write, else the run of read
 * claims before the oldest write. A waiter watches only the one claim that
 * blocks it most closely (the next lower node; for a reader, the next lower
 * write node), so a release wakes only the waiter it unblocks: no herd.
 *
 * @internal
 * @module
 */
import { parseClaim, type ClaimName } from './paths.js';

/**
 * One claim in the queue.
 *
 * @example
 * ```ts
 * const mine: QueueEntry | undefined = queue.find((entry) => entry.node === ourNode);
 * ```
 */
export type QueueEntry = ClaimName;

/**
 * Parse a lock node's children into the queue, oldest first; children that are
 * not deadbolt claims are ignored.
 *
 * @example
 * ```ts
 * const queue = toQueue(await client.getChildren(paths.lockDir('jobs')));
 * ```
 */
export function toQueue(children: readonly string[]): QueueEntry[] {
  const entries: QueueEntry[] = [];
  for (const node of children) {
    const claim = parseClaim(node);
    if (claim !== undefined) entries.push(claim);
  }
  if (entries.length > 1) entries.sort((a, b) => a.seq - b.seq);
  return entries;
}

/**
 * Whether a new claim of `mode` would be granted at once (for tryAcquire's pre-check).
 *
 * @example
 * ```ts
 * if (!wouldGrant(queue, 'exclusive')) return undefined; // tryAcquire: taken
 * ```
 */
export function wouldGrant(queue: readonly QueueEntry[], mode: 'exclusive' | 'shared'): boolean {
  return mode === 'exclusive' ? queue.length === 0 : queue.every((entry) => entry.mode === 'shared');
}

/**
 * The claims that hold the lock now (queue oldest first).
 *
 * @example
 * ```ts
 * holdersOf(queue).map((entry) => entry.node);
 * ```
 */
export function holdersOf(queue: readonly QueueEntry[]): QueueEntry[] {
  const first = queue[0];
  if (first === undefined) return [];
  if (first.mode === 'exclusive') return [first];
  const holders: QueueEntry[] = [];
  for (const entry of queue) {
    if (entry.mode === 'exclusive') break;
    holders.push(entry);
  }
  return holders;
}
