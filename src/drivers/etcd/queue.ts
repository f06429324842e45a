/**
 * The waiters queue of one lock name, as read from etcd: every claim key under
 * `<namespace>/locks/<name>/`, ordered by `create_revision` (the order in which
 * etcd accepted the claims, which is also their fencing token).
 *
 * Who holds, who blocks whom (etcd's RWMutex recipe):
 * - an exclusive claim is granted when no claim is older than it;
 * - a shared claim is granted when no *exclusive* claim is older than it;
 * so the holders are the oldest claim if it is exclusive, else the run of
 * shared claims before the oldest exclusive one. A waiter waits for the one
 * claim that blocks it most recently (its predecessor): that is the only key it
 * watches, so a release wakes only the waiters it unblocks.
 *
 * @internal
 * @module
 */
import type { IKeyValue } from 'etcd3';
import type { KeyLayout } from './keys.js';

/** One claim in the queue. */
export interface QueueEntry {
  readonly key: Buffer;
  readonly name: string;
  readonly mode: 'exclusive' | 'shared';
  /** The claim's `create_revision`: its place in the queue and its fencing token. */
  readonly revision: bigint;
  readonly lease: bigint;
  /** The value (holder record), when it was read. */
  readonly value: Buffer | undefined;
}

/**
 * Parse etcd's key-values into queue entries, oldest first; keys that are not
 * deadbolt claims are ignored.
 *
 * @example
 * ```ts
 * const queue = toQueue(keys, response.kvs);
 * ```
 */
export function toQueue(keys: KeyLayout, kvs: readonly IKeyValue[]): QueueEntry[] {
  const entries: QueueEntry[] = [];
  for (const kv of kvs) {
    const parsed = keys.parseClaim(kv.key.toString('utf8'));
    if (parsed === undefined) continue;
    entries.push({
      key: kv.key,
      name: parsed.name,
      mode: parsed.mode,
      revision: BigInt(kv.create_revision),
      lease: BigInt(kv.lease),
      value: kv.value.length > 0 ? kv.value : undefined,
    });
  }
  return entries.sort((a, b) => (a.revision < b.revision ? -1 : a.revision > b.revision ? 1 : 0));
}

/**
 * The claim that keeps a claim of `mode` at `revision` waiting: the youngest
 * older claim (exclusive), or the youngest older exclusive claim (shared).
 * `undefined` means granted.
 */
export function blocker(queue: readonly QueueEntry[], revision: bigint, mode: 'exclusive' | 'shared'): QueueEntry | undefined {
  let found: QueueEntry | undefined;
  for (const entry of queue) {
    if (entry.revision >= revision) break;
    if (mode === 'exclusive' || entry.mode === 'exclusive') found = entry;
  }
  return found;
}

/** The claims that hold the lock now (queue oldest first). */
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
