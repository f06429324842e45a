/**
 * The queue of one lock name, as the wait path reads it from etcd (keys only): every claim key under
 * `<namespace>/locks/<name>/`, ordered by `create_revision` (the order in which
 * etcd accepted the claims, which is also their fencing token).
 *
 * Who holds and who blocks whom is the recipe core's rule (src/core/blocker.ts),
 * on these entries' `order`.
 *
 * @internal
 * @module
 */
import type { IKeyValue } from 'etcd3';
import type { EngineClaim } from '../../core/engine.js';
import type { KeyLayout } from './keys.js';

/** One claim in the queue (the core's EngineClaim: order and token are its `create_revision`). */
export interface QueueEntry extends EngineClaim {
  readonly key: Buffer;
  readonly name: string;
  readonly mode: 'exclusive' | 'shared';
  /** The claim's `create_revision`: its place in the queue and its fencing token. */
  readonly revision: bigint;
  readonly lease: bigint;
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
    const revision = BigInt(kv.create_revision);
    entries.push({
      order: revision,
      token: revision,
      key: kv.key,
      name: parsed.name,
      mode: parsed.mode,
      revision,
      lease: BigInt(kv.lease),
    });
  }
  return entries.sort((a, b) => (a.revision < b.revision ? -1 : a.revision > b.revision ? 1 : 0));
}

