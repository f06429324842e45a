/**
 * The queue of one lock name, as read from ZooKeeper: the claim nodes under
 * its lock node, ordered by their sequence suffix (the order in which the
 * leader accepted them).
 *
 * Who holds and who blocks whom is the recipe core's rule (src/core/blocker.ts:
 * ZooKeeper's lock and shared-lock recipes), on the sequence suffixes: a waiter
 * watches only the one claim that blocks it most closely, so a release wakes
 * only the waiter it unblocks (no herd).
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
