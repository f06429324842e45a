/**
 * The queue of one lock name, as read from ZooKeeper: the children of its lock
 * node, ordered by their sequence suffix (the order in which the leader
 * accepted them).
 *
 * Who holds and who blocks whom is the recipe core's rule (src/core/blocker.ts:
 * ZooKeeper's lock and shared-lock recipes), on the sequence suffixes: a waiter
 * watches only the one claim that blocks it most closely, so a release wakes
 * only the waiter it unblocks (no herd). Every child is in the queue: one
 * deadbolt did not write is a foreign exclusive claim (layout.ts), never ignored.
 *
 * @internal
 * @module
 */
import { parseChild, type QueueEntry, type ZkLayout } from './layout.js';

export type { QueueEntry };

/**
 * Parse a lock node's children into the queue, oldest first, under `layout`.
 *
 * @example
 * ```ts
 * const queue = toQueue(await client.getChildren(paths.lockDir('jobs')), paths.layout);
 * ```
 */
export function toQueue(children: readonly string[], layout: ZkLayout = 'deadbolt'): QueueEntry[] {
  // unsequenced foreign nodes are numbered in name order, so every read places them alike
  const sorted = [...children].sort();
  let unsequenced = 0;
  const entries = sorted.map((node) => {
    const entry = parseChild(node, layout, unsequenced);
    if (entry.foreign === true && entry.seq < 0) unsequenced++;
    return entry;
  });
  if (entries.length > 1) entries.sort((a, b) => a.seq - b.seq);
  return entries;
}
